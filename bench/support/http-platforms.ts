import { formatSpread, noiseTag, signed } from './stats.js';
import type { Spread } from './stats.js';

/**
 * The servers of servers/http-variant.ts, grouped by the HTTP platform Nest runs on. Every ratio in the
 * HTTP tables is taken within one platform: "vs plain Nest" against that platform's plain Nest, "vs
 * floor" against that platform's header-only floor (the least any design that answers with the id can
 * do there).
 */
export interface HttpPlatform {
  name: 'Fastify' | 'Express';
  /** Plain Nest on this platform, no request id. */
  baseline: string;
  /** The header-only floor on this platform. */
  floor: string;
  /** Threadline on this platform. */
  threadline: string;
  /** Every server of the req/s benchmark on this platform, baseline first. */
  variants: readonly string[];
  /** Threadline with the tracing package before spans (bench:instructions' "export off" reference). */
  beforeSpans: string;
}

export const HTTP_PLATFORMS: readonly HttpPlatform[] = [
  {
    name: 'Fastify',
    baseline: 'nest',
    floor: 'header-hook',
    threadline: 'threadline',
    variants: ['nest', 'threadline', 'nestjs-cls', 'fastify-context', 'header-hook', 'nest-again'],
    beforeSpans: 'threadline-before-spans',
  },
  {
    name: 'Express',
    baseline: 'express-nest',
    floor: 'express-header',
    threadline: 'express-threadline',
    variants: ['express-nest', 'express-threadline', 'express-nestjs-cls', 'express-header'],
    beforeSpans: 'express-threadline-before-spans',
  },
];

export function platformOf(variant: string): HttpPlatform {
  const platform = HTTP_PLATFORMS.find(
    (candidate) => candidate.variants.includes(variant) || candidate.beforeSpans === variant,
  );
  if (platform === undefined) throw new Error(`unknown HTTP variant ${variant}`);
  return platform;
}

/**
 * "+734 [-1200 to +2600] (+0.5 %), within noise": a difference in instructions with the range of its
 * rounds, in per cent of `reference` (the median it is taken against), and whether the rounds agree on it.
 */
export function difference(delta: Spread, reference: number): string {
  return `${formatSpread(delta, signed(0))} (${signed(1)((delta.median / reference) * 100)} %)${noiseTag(delta, 0)}`;
}
