import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { InvalidRequestError } from './invalid-request.error.js';

/**
 * JSON Schemas from clients (`tools[].function.parameters`, `response_format.json_schema.schema`),
 * compiled with ajv: draft 2020-12, and draft-07 for a schema that says so (the `openai` SDK's zod
 * helper does). Keywords ajv does not know (`title`, vendor extensions) are allowed, as OpenAI allows
 * them; `format` is not checked.
 */
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
ajv.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object);

/** Compiled schemas kept, by their JSON text: a client sends the same few schemas again and again. */
const CACHE_SIZE = 256;
const compiled = new Map<string, ValidateFunction>();

/**
 * The schema compiled into a validating function; an InvalidRequestError naming `param` when it is no
 * JSON object or ajv cannot compile it (an unknown type, a `$ref` to nowhere, a bad `pattern`...).
 */
export function compileSchema(schema: unknown, param: string): ValidateFunction {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new InvalidRequestError(`${param} must be a JSON Schema object.`, param);
  }
  const key = JSON.stringify(schema);
  const cached = compiled.get(key);
  if (cached !== undefined) {
    // Most recently used last, so the oldest is the first to go.
    compiled.delete(key);
    compiled.set(key, cached);
    return cached;
  }
  // A copy, so that ajv's own cache (keyed by the object) can be emptied of it: a request's schema
  // must not stay in memory for good, and two schemas with the same `$id` must not collide.
  const copy = JSON.parse(key) as object;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(copy);
  } catch (error) {
    throw new InvalidRequestError(
      `${param} is not a valid JSON Schema: ${(error as Error).message}`.slice(0, 500),
      param,
    );
  } finally {
    try {
      ajv.removeSchema(copy);
    } catch {
      // not registered: nothing to remove
    }
  }
  compiled.set(key, validate);
  if (compiled.size > CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  return validate;
}

/** Ajv's first error for a value the schema refuses, as a line of text. */
export function schemaErrors(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`.trim()).join('; ');
}
