/**
 * `url` as lines and answers may show it: its user name and password, if it has any, replaced by `***`
 * (an OTLP endpoint or a NATS server given as `scheme://user:secret@host`).
 */
export function withoutCredentials(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = '***';
  parsed.password = '';
  return parsed.href;
}
