import { Registry } from 'prom-client';

/** The Prometheus text format (0.0.4), what a scraper gets unless it asks for OpenMetrics. */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
/** OpenMetrics 1.0.0 text, the format that carries exemplars. */
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/** A scrape's answer. */
export interface Exposition {
  contentType: string;
  body: string;
}

/**
 * Whether a scraper's `Accept` prefers OpenMetrics to the Prometheus text format: OpenMetrics is named
 * with a weight above zero and at least the plain text's. Prometheus itself asks for OpenMetrics first.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const weight = params.find((param) => param.startsWith('q='));
    const q = weight === undefined ? 1 : Number(weight.slice(2));
    if (!(q > 0)) continue;
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}
