import { STATUS_CODES } from 'node:http';
import type { ClientErrorBody } from '@threadline/tracing';
import type { OpenAIErrorBody } from '../llm/frontend/openai-error.js';

/**
 * The body of a request Node's HTTP server refused before the service saw it (bad HTTP, too large,
 * too slow), in OpenAI's error shape; the code names the status (`request_timeout`, `uri_too_long`...).
 */
export const openAIClientErrorBody: ClientErrorBody = ({ status, message }): OpenAIErrorBody => ({
  error: { message, type: 'invalid_request_error', param: null, code: statusCode(status) },
});

function statusCode(status: number): string {
  if (status === 413) return 'request_too_large';
  return (STATUS_CODES[status] ?? 'bad_request').toLowerCase().replace(/[^a-z]+/g, '_');
}
