import { describe, expect, it } from 'vitest';
import type { FinishedSpan } from '@threadline/tracing';
import { esc, renderTimelinePage, timelineOf } from './timeline-view.js';

const HOSTILE = '"><script>alert(1)</script>';

function span(fields: Partial<FinishedSpan>): FinishedSpan {
  return {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    name: 'work',
    kind: 'internal',
    startTime: 1000,
    endTime: 1010,
    attributes: {},
    events: [],
    status: 'unset',
    requestId: HOSTILE,
    ...fields,
  };
}

describe('the timeline page', () => {
  it('escapes every value it shows', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
    const timeline = timelineOf(HOSTILE, [
      {
        process: `host:${HOSTILE}`,
        components: ['frontend'],
        spans: [
          span({
            spanId: '1'.repeat(16),
            name: `GET ${HOSTILE}`,
            kind: 'server',
            attributes: { 'http.request.method': 'GET' },
          }),
          span({
            spanId: '2'.repeat(16),
            parentSpanId: '1'.repeat(16),
            name: 'gen_ai.generate',
            attributes: { 'threadline.worker_id': HOSTILE, 'gen_ai.usage.output_tokens': 3 },
            events: [{ name: HOSTILE, time: 1005 }],
          }),
        ],
      },
    ]);
    const html = renderTimelinePage(timeline!);
    expect(html).not.toContain('<script');
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain(esc(HOSTILE));
  });

  it('labels each span with the component it speaks for', () => {
    const http = span({
      spanId: '1'.repeat(16),
      kind: 'server',
      name: 'POST /x',
      attributes: { 'http.request.method': 'POST' },
    });
    const call = span({
      spanId: '2'.repeat(16),
      parentSpanId: http.spanId,
      kind: 'client',
      name: 'processor.generate',
    });
    const served = span({
      spanId: '3'.repeat(16),
      parentSpanId: call.spanId,
      kind: 'server',
      name: 'processor.generate',
      attributes: { 'rpc.service': 'processor' },
    });
    const next = span({ spanId: '4'.repeat(16), parentSpanId: served.spanId, kind: 'client', name: 'router.route' });
    const timeline = timelineOf('id', [{ process: 'p', components: [], spans: [http, call, served, next] }]);
    expect(timeline!.spans.map((s) => s.component)).toEqual(['frontend', 'frontend', 'processor', 'processor']);
  });

  it('of two requests of one id, shows the newest, or the one of the trace asked for, and names the others', () => {
    const older = span({
      traceId: '1'.repeat(32),
      spanId: '1'.repeat(16),
      kind: 'server',
      startTime: 1000,
      endTime: 1010,
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 },
    });
    const newer = span({
      traceId: '2'.repeat(32),
      spanId: '2'.repeat(16),
      kind: 'server',
      startTime: 3000,
      endTime: 3005,
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 404 },
    });
    const answers = [{ process: 'p', components: [], spans: [older, newer] }];
    const newest = timelineOf('reused', answers)!;
    expect(newest).toMatchObject({ status: 404, trace_id: '2'.repeat(32) });
    expect(newest.spans.map((s) => s.spanId)).toEqual(['2'.repeat(16)]);
    expect(newest.other_requests).toEqual([{ trace_id: '1'.repeat(32), started_at: new Date(1000).toISOString() }]);
    expect(renderTimelinePage(newest)).toContain(`href="view?trace=${'1'.repeat(32)}"`);
    const asked = timelineOf('reused', answers, '1'.repeat(32))!;
    expect(asked).toMatchObject({ status: 200, trace_id: '1'.repeat(32) });
    expect(asked.spans.map((s) => s.spanId)).toEqual(['1'.repeat(16)]);
    expect(timelineOf('reused', answers, '3'.repeat(32))).toBeUndefined();
  });
});
