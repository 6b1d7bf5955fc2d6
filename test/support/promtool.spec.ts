import { describe, expect } from 'vitest';
import { checkMetrics, itWithPromtool } from './promtool.js';

// A self-check of the helper the metrics tests stand on: promtool runs, and it does reject a bad exposition.

describe('checkMetrics', () => {
  itWithPromtool('passes a well-formed exposition', () => {
    const good = '# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total 3\n';
    expect(checkMetrics(good)).toEqual({ ok: true, output: '' });
  });

  itWithPromtool('fails a counter without `_total` and a line it cannot parse, saying why', () => {
    const lint = checkMetrics('# HELP demo_requests Requests.\n# TYPE demo_requests counter\ndemo_requests 3\n');
    expect(lint.ok).toBe(false);
    expect(lint.output).toContain('counter metrics should have "_total" suffix');
    const parse = checkMetrics('demo_requests_total{model="m" 3\n');
    expect(parse.ok).toBe(false);
    expect(parse.output).toMatch(/pars/);
  });
});
