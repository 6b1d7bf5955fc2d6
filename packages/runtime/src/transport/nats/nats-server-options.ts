/** Where a NATS connection goes and how it authenticates, as nats.js takes them. */
export interface NatsServerOptions {
  servers: string;
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * `url` as nats.js connects to it. nats.js reads no credentials from a URL, so they are taken out of it:
 * `nats://user:password@host:4222` is that user and password, `nats://token@host:4222` a token; both
 * percent-decoded.
 */
export function natsServerOptions(url: string): NatsServerOptions {
  if (!URL.canParse(url)) return { servers: url };
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { servers: url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const servers = parsed.href;
  return password === '' ? { servers, token: user } : { servers, user, pass: password };
}
