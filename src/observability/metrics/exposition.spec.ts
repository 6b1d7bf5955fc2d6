import { describe, expect, it } from 'vitest';
import { wantsOpenMetrics } from './exposition.js';

describe('wantsOpenMetrics', () => {
  it.each([
    // What Prometheus sends when it scrapes.
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    'application/openmetrics-text; version=1.0.0',
    'text/plain;q=0.5, application/openmetrics-text',
    'Application/OpenMetrics-Text',
  ])('takes OpenMetrics when the Accept prefers it: %s', (accept) => {
    expect(wantsOpenMetrics(accept)).toBe(true);
  });

  it.each([
    undefined,
    '',
    '*/*',
    'text/plain',
    'text/plain;version=0.0.4',
    'application/openmetrics-text;q=0.5, text/plain',
    'application/openmetrics-text;q=0',
    'application/json',
  ])('answers Prometheus text otherwise: %s', (accept) => {
    expect(wantsOpenMetrics(accept)).toBe(false);
  });
});
