import type { FastifyCorsOptions } from '@fastify/cors';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isAllowedOrigin } from '../config/cors.config.js';
import type { CorsOrigins } from '../config/cors.config.js';

/** The OpenAI API's paths: the only ones open to other origins' pages. Browsers resolve dot segments first. */
function isApiPath(url: string): boolean {
  return url.startsWith('/v1/');
}

/** The response headers a page may read: the request id and when to retry. */
function exposedHeaders(idHeader: string): string[] {
  return [idHeader, 'retry-after'];
}

const METHODS = ['GET', 'POST', 'OPTIONS'];
/** How long a browser may reuse a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE = 600;

/**
 * CORS for pages of the allowed origins, on the OpenAI API alone: the service's own routes (the request
 * timeline, metrics, readiness) stay out of reach of other origins' pages. A preflight is answered with
 * the headers it asks for (the OpenAI clients add their own as they change); a page may read the request
 * id and when to retry.
 */
export function apiCorsOptions(origins: CorsOrigins, idHeader: string): FastifyCorsOptions {
  const api: FastifyCorsOptions = {
    origin: origins.any
      ? '*'
      : (origin, callback) => callback(null, origin !== undefined && isAllowedOrigin(origins, origin)),
    methods: METHODS,
    exposedHeaders: exposedHeaders(idHeader),
    maxAge: PREFLIGHT_MAX_AGE,
    // An OPTIONS without Access-Control-Request-Method (no browser sends one) is answered as a preflight,
    // rather than with the plugin's plain-text 400.
    strictPreflight: false,
  };
  const none: FastifyCorsOptions = { origin: false };
  return { delegator: (request, callback) => callback(null, isApiPath(request.url) ? api : none) };
}

/**
 * Fastify's `frameworkErrors`: the router answers a path it cannot route (a malformed percent-encoding,
 * 400; a path parameter over its longest, 414) before any hook runs, the CORS hook among them. The answer
 * gets the headers the CORS hook gives any response to a page of an allowed origin, so that the page can
 * read its status and its id instead of a network error; the error is then sent as Fastify would (the
 * tracing module makes it the OpenAI-style body with the id). A preflight for such a path is answered as
 * the CORS hook answers one: refused, the browser would never send the request whose answer says why.
 */
export function apiCorsOnFrameworkErrors(
  origins: CorsOrigins,
  idHeader: string,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  const exposed = exposedHeaders(idHeader).join(', ');
  return (error, request, reply) => {
    if (!isApiPath(request.url)) return void reply.send(error);
    if (!origins.any) reply.header('vary', 'Origin');
    const { origin } = request.headers;
    if (typeof origin !== 'string' || !isAllowedOrigin(origins, origin)) return void reply.send(error);
    reply.header('access-control-allow-origin', origins.any ? '*' : origin);
    reply.header('access-control-expose-headers', exposed);
    if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined)
      return void reply.send(error);
    reply.header('access-control-allow-methods', METHODS.join(', '));
    reply.header('vary', origins.any ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers');
    const asked = request.headers['access-control-request-headers'];
    if (asked !== undefined) reply.header('access-control-allow-headers', asked);
    reply.header('access-control-max-age', String(PREFLIGHT_MAX_AGE));
    void reply.code(204).header('content-length', '0').send();
  };
}

/**
 * What a preflight the CORS hook did not answer is told (a `404`, which stops the browser): its origin is
 * not allowed, or its path is not under `/v1/`. Undefined for any other request.
 */
export function refusedPreflightMessage(request: FastifyRequest): string | undefined {
  const { origin } = request.headers;
  if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return undefined;
  const from = typeof origin === 'string' ? `origin ${origin.slice(0, 256)}` : 'no origin';
  return isApiPath(request.url)
    ? `A CORS preflight from ${from}, which CORS_ORIGINS does not allow: the browser will not send the request.`
    : `A CORS preflight for ${request.url.slice(0, 256)}: only the paths under /v1/ answer other origins.`;
}
