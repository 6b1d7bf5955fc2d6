import type { FinishedSpan } from '@threadline/tracing';
import { isHttpSpan } from './timeline/timeline-facts.js';

/** Requests about the service itself: probes, scrapes, the timeline's own routes. */
const ABOUT_THE_SERVICE = /^\/(debug\/|metrics$|health$|ready$)/;

/**
 * Whether `span` is the HTTP span of a request about the service itself: neither kept by the timeline
 * (they would push the work out) nor exported (a scrape every few seconds is no trace anyone looks for).
 */
export function isServiceSelfRequest(span: FinishedSpan): boolean {
  return isHttpSpan(span) && ABOUT_THE_SERVICE.test(String(span.attributes['url.path']));
}
