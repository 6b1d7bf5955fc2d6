import type { FastifyInstance } from 'fastify';
import { isAllowedHost } from '../config/allowed-hosts.config.js';
import type { AllowedHosts } from '../config/allowed-hosts.config.js';
import type { OpenAIErrorBody } from '../llm/frontend/openai-error.js';

const CODE = 'host_not_allowed';

/**
 * Refuses, with a `403`, a request whose `Host` names a host the service does not answer to
 * (`ALLOWED_HOSTS`): a page served under a name that a rebinding DNS then points at 127.0.0.1 is, to the
 * browser, of the same origin as the service, so CORS does not keep it from the API or from the timeline.
 * An HTTP/1.1 request without `Host`, which HTTP/1.1 requires, gets a `400` and its connection closed, as
 * Node would answer it (the server is told not to: `requireHostHeader: false`), but with an error body and
 * the id; so does one with an empty `Host`, which no `http` URL gives (RFC 9112, 3.2). Added as a hook
 * of the root (not encapsulated), so that it runs for every route, after the request-id hook (the
 * refusal carries the id) and before any other work.
 */
export function installHostCheck(fastify: FastifyInstance, allowed: AllowedHosts): void {
  const plugin = async (root: FastifyInstance) => {
    root.addHook('onRequest', (request, reply, done) => {
      const host = request.headers.host;
      const missing = host === undefined && request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor === 1;
      if (missing || host === '') {
        const what = missing ? 'no Host header' : 'an empty Host header';
        reply.log.warn({ status: 400, code: NO_HOST_CODE }, `request refused: it has ${what}`);
        void reply.code(400).header('connection', 'close').send(noHostBody(what, request.id));
        return;
      }
      if (allowed.any || isAllowedHost(allowed, host)) return done();
      reply.log.warn({ status: 403, code: CODE, host }, 'request refused: its Host is not one ALLOWED_HOSTS allows');
      void reply.code(403).send(refusalBody(String(host), request.id));
    });
  };
  // Fastify's documented alternative to fastify-plugin: the hook applies to every route.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  void fastify.register(plugin);
}

/** The code Node's parser errors are answered with (a malformed request). */
const NO_HOST_CODE = 'bad_request';

/** The refusal of a request without a host: HTTP/1.1 requires one, and an `http` URL always has one to give. */
function noHostBody(what: string, requestId: string): OpenAIErrorBody {
  return {
    error: {
      message: `The request has ${what}, which HTTP/1.1 requires to name the host (request id ${requestId}).`,
      type: 'invalid_request_error',
      param: null,
      code: NO_HOST_CODE,
    },
  };
}

function refusalBody(host: string, requestId: string): OpenAIErrorBody {
  return {
    error: {
      message:
        `This service does not answer to the host ${JSON.stringify(host.slice(0, 256))}: ` +
        `ALLOWED_HOSTS names the hosts it answers to besides localhost and IP addresses (request id ${requestId}).`,
      type: 'invalid_request_error',
      param: null,
      code: CODE,
    },
  };
}
