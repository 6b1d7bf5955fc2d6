/**
 * The requests a spec about living beside another library sends, on GET and POST: a valid id (kept),
 * none, and two invalid ones (replaced, and never logged).
 */
export function incomingIdCases(prefix: string) {
  return [
    { method: 'GET', sent: 'a valid id', incoming: `${prefix}-get-1`, kept: true },
    { method: 'GET', sent: 'no id', incoming: undefined, kept: false },
    { method: 'GET', sent: 'an id with a space', incoming: 'bad id', kept: false },
    { method: 'POST', sent: 'a valid id', incoming: `${prefix}-post-1`, kept: true },
    { method: 'POST', sent: 'no id', incoming: undefined, kept: false },
    { method: 'POST', sent: 'a 200-character id', incoming: 'x'.repeat(200), kept: false },
  ] as const;
}
