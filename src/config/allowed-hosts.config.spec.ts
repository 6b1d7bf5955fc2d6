import { describe, expect, it } from 'vitest';
import { hostNameOf, isAllowedHost, loadAllowedHosts } from './allowed-hosts.config.js';
import { loadAppConfig } from './app.config.js';

describe('ALLOWED_HOSTS', () => {
  it('unset, on a loopback address: the loopback names and any IP address, no other name', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]']) {
      const allowed = loadAllowedHosts({}, host);
      for (const header of [
        'localhost:8080',
        '127.0.0.1:8080',
        '[::1]:8080',
        'app.localhost',
        '10.1.2.3',
        'LOCALHOST.',
      ])
        expect(isAllowedHost(allowed, header), `${host}: ${header}`).toBe(true);
      for (const header of ['evil.test:8080', 'localhost.evil.test', 'example.com', '127.0.0.1.nip.io'])
        expect(isAllowedHost(allowed, header), `${host}: ${header}`).toBe(false);
    }
  });

  it('unset, on another address: any name (the operator puts it behind names of their own)', () => {
    expect(isAllowedHost(loadAllowedHosts({}, '0.0.0.0'), 'llm.example.com')).toBe(true);
  });

  it('a list adds names, whatever the address; `*` allows any', () => {
    const allowed = loadAllowedHosts({ ALLOWED_HOSTS: 'llm.internal, Chat.Example.com' }, '0.0.0.0');
    expect(isAllowedHost(allowed, 'llm.internal:8080')).toBe(true);
    expect(isAllowedHost(allowed, 'chat.example.com')).toBe(true);
    expect(isAllowedHost(allowed, 'localhost:8080')).toBe(true);
    expect(isAllowedHost(allowed, 'evil.test')).toBe(false);
    expect(isAllowedHost(loadAllowedHosts({ ALLOWED_HOSTS: '*' }, '127.0.0.1'), 'evil.test')).toBe(true);
  });

  it('a request without Host (HTTP/1.0) is answered: no browser sends one', () => {
    expect(isAllowedHost(loadAllowedHosts({}, '127.0.0.1'), undefined)).toBe(true);
  });

  it('reads the name of a Host header without port, brackets or trailing dot', () => {
    expect(hostNameOf('Evil.Test.:8080')).toBe('evil.test');
    expect(hostNameOf('[::1]:80')).toBe('::1');
    expect(hostNameOf('localhost')).toBe('localhost');
  });

  it.each(['', 'http://llm.internal', 'llm.internal:8080', 'a b', 'llm.internal/v1'])(
    'ALLOWED_HOSTS %j stops start-up, naming it',
    (value) => {
      expect(() => loadAppConfig({ ALLOWED_HOSTS: value })).toThrow('Invalid configuration: ALLOWED_HOSTS must be');
    },
  );
});
