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
  /** Every server of the req/s benchmark on this platform, baseline first. */
  variants: readonly string[];
}

export const HTTP_PLATFORMS: readonly HttpPlatform[] = [
  {
    name: 'Fastify',
    baseline: 'nest',
    floor: 'header-hook',
    variants: ['nest', 'threadline', 'nestjs-cls', 'fastify-context', 'header-hook', 'nest-again'],
  },
  {
    name: 'Express',
    baseline: 'express-nest',
    floor: 'express-header',
    variants: ['express-nest', 'express-threadline', 'express-nestjs-cls', 'express-header'],
  },
];

export function platformOf(variant: string): HttpPlatform {
  const platform = HTTP_PLATFORMS.find((candidate) => candidate.variants.includes(variant));
  if (platform === undefined) throw new Error(`unknown HTTP variant ${variant}`);
  return platform;
}

/** "+734 (+0.5 %)": `count` against `reference`, in instructions and in per cent. */
export function difference(count: number, reference: number): string {
  const delta = count - reference;
  const sign = delta >= 0 ? '+' : '-';
  return `${sign}${Math.abs(Math.round(delta))} (${sign}${Math.abs((delta / reference) * 100).toFixed(1)} %)`;
}
