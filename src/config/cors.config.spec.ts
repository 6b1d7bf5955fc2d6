import { describe, expect, it } from 'vitest';
import { loadAppConfig } from './app.config.js';
import { isAllowedOrigin, loadCorsOrigins } from './cors.config.js';

describe('CORS_ORIGINS in the configuration', () => {
  it('allows pages of this machine on any port by default, and no other', () => {
    const origins = loadAppConfig({}).corsOrigins;
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080', 'http://localhost']) {
      expect(isAllowedOrigin(origins, origin), origin).toBe(true);
    }
    for (const origin of ['https://example.com', 'http://localhost.example.com', 'https://localhost:5173', 'null']) {
      expect(isAllowedOrigin(origins, origin), origin).toBe(false);
    }
  });

  it('"*" allows every origin', () => {
    expect(loadCorsOrigins({ CORS_ORIGINS: '*' })).toEqual({ any: true });
    expect(isAllowedOrigin(loadCorsOrigins({ CORS_ORIGINS: ' * ' }), 'https://anywhere.example')).toBe(true);
  });

  it('a list allows exactly its origins, written as browsers write them (lower case, no default port)', () => {
    const origins = loadCorsOrigins({
      CORS_ORIGINS: 'https://App.Example.com:443, http://10.0.0.5:3000,http://[0:0::1]:80',
    });
    expect(origins).toEqual({
      any: false,
      exact: ['https://app.example.com', 'http://10.0.0.5:3000', 'http://[::1]'],
      anyPort: [],
    });
    expect(isAllowedOrigin(origins, 'https://app.example.com')).toBe(true);
    expect(isAllowedOrigin(origins, 'http://10.0.0.5:3000')).toBe(true);
    expect(isAllowedOrigin(origins, 'http://10.0.0.5:3001')).toBe(false);
    expect(isAllowedOrigin(origins, 'http://app.example.com')).toBe(false);
    expect(isAllowedOrigin(origins, 'http://localhost:5173')).toBe(false);
  });

  it('port "*" matches the scheme and host on any port, or none', () => {
    const origins = loadCorsOrigins({ CORS_ORIGINS: 'https://dev.example.com:*' });
    expect(isAllowedOrigin(origins, 'https://dev.example.com:8443')).toBe(true);
    expect(isAllowedOrigin(origins, 'https://dev.example.com')).toBe(true);
    expect(isAllowedOrigin(origins, 'http://dev.example.com:8443')).toBe(false);
  });

  it.each([
    '',
    ',',
    'localhost:3000',
    'http://localhost:3000/',
    'http://localhost:3000/app',
    'http://localhost:99999',
    'http://user@localhost',
    'https://*.example.com',
    '*,http://localhost',
    'http://localhost, ',
  ])('refuses %j, naming the variable', (value) => {
    expect(() => loadAppConfig({ CORS_ORIGINS: value })).toThrow(
      `Invalid configuration: CORS_ORIGINS must be "*" or a comma list of origins scheme://host[:port] (port "*": any), such as http://localhost:3000, got ${JSON.stringify(value)}`,
    );
  });
});
