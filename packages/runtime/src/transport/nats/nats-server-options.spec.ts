import { describe, expect, it } from 'vitest';
import { natsServerOptions } from './nats-server-options.js';

describe('natsServerOptions', () => {
  it('takes a user and password, or a token, out of the URL, percent-decoded', () => {
    expect(natsServerOptions('nats://svc:s3cret@127.0.0.1:4222')).toEqual({
      servers: 'nats://127.0.0.1:4222',
      user: 'svc',
      pass: 's3cret',
    });
    expect(natsServerOptions('tls://ops%40team:p%40ss@bus.internal:4443')).toEqual({
      servers: 'tls://bus.internal:4443',
      user: 'ops@team',
      pass: 'p@ss',
    });
    expect(natsServerOptions('nats://t0ken@bus.internal:4222')).toEqual({
      servers: 'nats://bus.internal:4222',
      token: 't0ken',
    });
  });

  it('leaves a URL without credentials as it is', () => {
    expect(natsServerOptions('nats://127.0.0.1:4222')).toEqual({ servers: 'nats://127.0.0.1:4222' });
  });
});
