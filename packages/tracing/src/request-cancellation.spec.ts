import { describe, expect, it, vi } from 'vitest';
import { RequestCancellation } from './request-cancellation.js';

describe('RequestCancellation.onAbort', () => {
  it('tells each listener once, after the signal’s own listeners, with the reason', () => {
    const cancellation = new RequestCancellation();
    const heard: string[] = [];
    cancellation.onAbort((reason) => heard.push(`first ${String(reason)}`));
    cancellation.signal.addEventListener('abort', () => heard.push('signal'));
    cancellation.onAbort((reason) => heard.push(`second ${String(reason)}`));
    cancellation.abort('gone');
    cancellation.abort('again');
    expect(heard).toEqual(['signal', 'first gone', 'second gone']);
  });

  it('makes no signal until the request is cancelled', () => {
    const cancellation = new RequestCancellation();
    const listener = vi.fn();
    cancellation.onAbort(listener);
    expect(cancellation.aborted).toBe(false);
    expect((cancellation as unknown as { controller?: AbortController }).controller).toBeUndefined();
  });

  it('stops telling a listener once it stops listening, the others still told', () => {
    const cancellation = new RequestCancellation();
    const stopped = vi.fn();
    const kept = vi.fn();
    const stop = cancellation.onAbort(stopped);
    cancellation.onAbort(kept);
    stop();
    stop();
    cancellation.abort('gone');
    expect(stopped).not.toHaveBeenCalled();
    expect(kept).toHaveBeenCalledWith('gone');
  });

  it('never tells a listener added once the request is cancelled', () => {
    const cancellation = new RequestCancellation();
    cancellation.abort('gone');
    const late = vi.fn();
    cancellation.onAbort(late)();
    cancellation.abort('again');
    expect(late).not.toHaveBeenCalled();
  });
});
