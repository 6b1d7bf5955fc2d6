import type { FinishedSpan, SpanRecorder } from './span-types.js';

/** The recorders registered in this process; none means spans are not even started. */
const recorders: SpanRecorder[] = [];

/**
 * Registers `recorder` to receive every span of this process as it ends, and returns the function that
 * removes it. Until one is registered, Threadline starts no spans at all.
 * @publicApi
 */
export function addSpanRecorder(recorder: SpanRecorder): () => void {
  recorders.push(recorder);
  return () => {
    const index = recorders.indexOf(recorder);
    if (index !== -1) recorders.splice(index, 1);
  };
}

/** Whether any recorder is registered: the one check made on every request when none is. */
export function isRecordingSpans(): boolean {
  return recorders.length > 0;
}

/** Hands `span` to every recorder; a recorder that throws loses its span, the request goes on. */
export function recordSpan(span: FinishedSpan): void {
  for (const recorder of recorders) {
    try {
      recorder.onEnd(span);
    } catch {
      // A recorder's fault must not become the request's.
    }
  }
}
