import { describe, expect, it } from 'vitest';
import { withoutCredentials } from './url-credentials.js';

describe('withoutCredentials', () => {
  it('replaces a user name and password with ***, and leaves a URL without them as it is', () => {
    expect(withoutCredentials('nats://svc:s3cret@bus.internal:4222')).toBe('nats://***@bus.internal:4222');
    expect(withoutCredentials('http://token@collector:4318/v1/traces')).toBe('http://***@collector:4318/v1/traces');
    expect(withoutCredentials('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
    expect(withoutCredentials('not a url')).toBe('not a url');
  });
});
