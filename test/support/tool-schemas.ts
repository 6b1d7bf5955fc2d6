import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { tool } from 'ai';
import { expect } from 'vitest';
import { z } from 'zod';

/** The tools and structured outputs the tool-calling tests ask for, and a check that a value fits a schema. */

/** A weather tool's arguments as JSON Schema, strict enough that a made-up value can break it. */
export const WEATHER_PARAMETERS = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};

/** The weather tool's input as the AI SDK's tests declare it. */
export const WeatherInput = z.object({
  city: z.string().min(1),
  unit: z.enum(['celsius', 'fahrenheit']),
  days: z.number().int(),
});

/** An AI SDK weather tool that answers 21 degrees and pushes each input it is called with to `inputs`. */
export function recordingWeatherTool(inputs: unknown[]) {
  return tool({
    description: 'The weather in a city',
    inputSchema: WeatherInput,
    execute: (input) => {
      inputs.push(input);
      return Promise.resolve({ temperature: 21 });
    },
  });
}

/** A structured output with nesting, a bounded number and a boolean. */
export const Recipe = z.object({
  name: z.string(),
  servings: z.number().int().min(1).max(12),
  ingredients: z.array(z.object({ item: z.string(), grams: z.number() })),
  vegetarian: z.boolean(),
});

const ajv = new Ajv2020({ strict: false, validateFormats: false });
// The openai SDK's zod helper writes draft-07 schemas.
ajv.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object);

/** Expects `value` to be valid for the JSON Schema `schema`, naming what is wrong when not. */
export function expectValid(schema: object, value: unknown): void {
  const validate = ajv.compile(schema);
  expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
}
