import type { Logger } from '@nestjs/common';
import { getCurrentSpan } from '@threadline/tracing/internal';
import { ADMITTED, isAdmitted } from '../protocol/admission.js';
import type {
  Continuation,
  GenerateOutput,
  GenerateRequest,
  RouteRequest,
  WorkerOutput,
} from '../protocol/pipeline.types.js';

/** How a choice reaches its workers: the Router's choice, and a Worker's `generate` on the chosen instance. */
export interface GenerationCalls {
  /** The worker instance the Router picks for `request`. */
  route(request: RouteRequest): Promise<string>;
  /** The stream of worker `workerId` for `request`: `ADMITTED`, then tokens. */
  generate(request: GenerateRequest, workerId: string): AsyncIterable<WorkerOutput>;
}

export interface MigrationOptions {
  /** Moves allowed to another worker after a failure (THREADLINE_MIGRATION_LIMIT). */
  limit: number;
  /** The request's signal: once it aborted (client gone, deadline passed), nothing moves. */
  signal?: AbortSignal | undefined;
  logger: Pick<Logger, 'warn'>;
}

/**
 * The codes of a call's failure that say its worker is gone or cannot serve: killed or cut off (its
 * heartbeats stopped), not running any more, stopped at the end of its shutdown grace, or silent when
 * called. A cancel, a deadline, a refusal (429) or a bad request is not among them: another worker
 * would answer the same.
 */
const WORKER_LOST = new Set([
  'instance_gone',
  'instance_unavailable',
  'instance_shutting_down',
  'no_instance_answered',
  'transport_error',
]);

/** Whether `error` is a call's failure that another worker could make good. */
export function isWorkerLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && WORKER_LOST.has(code);
}

/**
 * One choice's generation, as a Worker's stream (`ADMITTED`, then tokens) that outlives its workers.
 * When the worker fails because it is gone, before admitting the request or mid-stream, the Router is
 * asked for another (never one that failed this request) and the generation goes on there: the prompt
 * followed by the tokens already produced, with `continuation` saying which is which and `maxTokens`
 * only what is still missing, so that the consumer sees one stream with nothing repeated or lost.
 * Each move is logged (`warn`) and recorded as an event of the current span. When no other worker can
 * take it, or the limit is reached, the worker's failure is thrown as it came.
 */
export async function* migratingGeneration(
  request: GenerateRequest,
  calls: GenerationCalls,
  options: MigrationOptions,
): AsyncGenerator<WorkerOutput> {
  const span = getCurrentSpan();
  const failed: string[] = [];
  // The tokens out so far, the model's reasoning apart from the rest: a continuation tells them apart.
  const carried = new CarriedTokens();
  let lost: { workerId: string; error: unknown } | undefined;
  let admitted = false;
  let finished = false;
  let current: AsyncIterator<WorkerOutput> | undefined;
  try {
    for (;;) {
      const attempt = continuationOf(request, carried.answer, carried.reasoning);
      let workerId: string;
      try {
        workerId = await calls.route(routeOf(attempt, failed));
      } catch (error) {
        if (lost === undefined || options.signal?.aborted === true) throw error;
        // Nobody else can take it: the client hears of the failure that started the move.
        options.logger.warn({
          msg: `request not migrated from ${lost.workerId}: ${error instanceof Error ? error.message : String(error)}`,
          from: lost.workerId,
          tokensCarried: carried.length,
        });
        throw lost.error;
      }
      if (lost !== undefined) {
        const reason = String((lost.error as { code?: unknown }).code);
        options.logger.warn({
          msg: `request migrated from ${lost.workerId} to ${workerId} after ${carried.length} tokens (${reason})`,
          from: lost.workerId,
          to: workerId,
          tokensCarried: carried.length,
          reason,
        });
        span?.addEvent('threadline.migration', {
          'threadline.migration.from': lost.workerId,
          'threadline.migration.to': workerId,
          'threadline.migration.tokens_carried': carried.length,
          'threadline.migration.reason': reason,
        });
        span?.setAttribute('threadline.migrations', failed.length);
      }
      try {
        current = calls.generate(attempt, workerId)[Symbol.asyncIterator]();
        const first = await current.next();
        if (first.done || !isAdmitted(first.value))
          throw new Error('The worker answered without admitting the request.');
        if (!admitted) {
          admitted = true;
          yield ADMITTED;
        }
        for (let next = await current.next(); !next.done; next = await current.next()) {
          // Whatever follows the last token (the stream's end) is not worth a move.
          if (finished) continue;
          const output = next.value as GenerateOutput;
          carried.add(output);
          finished = output.finishReason !== undefined;
          // A continuation's cached tokens count the carried ones: the prompt's were reported at first.
          yield carried.length > output.tokenIds.length && output.cachedTokens !== undefined
            ? withoutCachedTokens(output)
            : output;
        }
        return;
      } catch (error) {
        if (finished) return;
        if (!isWorkerLost(error) || options.signal?.aborted === true || options.limit === 0) throw error;
        if (request.maxTokens !== undefined && carried.length >= request.maxTokens) {
          // Every token asked for is already out: only the end was missing.
          yield { tokenIds: [], finishReason: 'length' };
          return;
        }
        if (failed.length >= options.limit) throw error;
        failed.push(workerId);
        lost = { workerId, error };
        void current?.return?.()?.catch(() => undefined);
        current = undefined;
      }
    }
  } finally {
    // The consumer stopped early: the worker's stream stops too, which gives back its slot.
    await current?.return?.()?.catch(() => undefined);
  }
}

/** The tokens a choice's workers have produced, on two arrays kept without a copy: the reasoning and the rest. */
class CarriedTokens {
  readonly reasoning: number[] = [];
  readonly answer: number[] = [];

  add(output: GenerateOutput): void {
    const to = output.reasoning === true ? this.reasoning : this.answer;
    for (const id of output.tokenIds) to.push(id);
  }

  get length(): number {
    return this.reasoning.length + this.answer.length;
  }
}

/**
 * The request to send a worker once `generated` tokens are out, and `reasoning` tokens of the model's
 * reasoning (which comes before its answer): the original one when none are.
 */
export function continuationOf(
  request: GenerateRequest,
  generated: readonly number[],
  reasoning: readonly number[] = [],
): GenerateRequest {
  const carried = reasoning.length + generated.length;
  if (carried === 0) return request;
  const continuation: Continuation = { promptTokens: request.tokenIds.length, generatedTokens: carried };
  if (reasoning.length > 0) continuation.reasoningTokens = reasoning.length;
  const next: GenerateRequest = {
    ...request,
    tokenIds: [...request.tokenIds, ...reasoning, ...generated],
    maxTokens: request.maxTokens === undefined ? undefined : request.maxTokens - carried,
    continuation,
  };
  // The block ids were the prompt's alone; the longer prompt's are computed where needed.
  delete next.blocks;
  return next;
}

/** The Router's request for `attempt`, leaving out the workers that failed: as before when none did. */
function routeOf(attempt: GenerateRequest, failed: readonly string[]): RouteRequest {
  const route: RouteRequest = { tokenIds: attempt.tokenIds };
  if (attempt.blocks !== undefined) route.blocks = attempt.blocks;
  if (failed.length > 0) route.exclude = [...failed];
  return route;
}

function withoutCachedTokens(output: GenerateOutput): GenerateOutput {
  const copy = { ...output };
  delete copy.cachedTokens;
  return copy;
}
