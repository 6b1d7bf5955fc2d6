import { Inject, Logger } from '@nestjs/common';
import { Component, Endpoint, InjectComponent, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import type { FinishReason, NormalizedRequest, ProcessorEvent, ProcessorRequest } from '../protocol/pipeline.types.js';
import { RouterComponent } from '../router/router.component.js';
import { WorkerComponent } from '../worker/worker.component.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import { mergeStreams } from './merge-streams.js';
import { validateOpenAIRequest } from './openai-request.validator.js';
import { StopMatcher } from './stop-matcher.js';
import { Tokenizer } from './tokenizer.js';

/** Token counts shared by the choices of one request. */
interface UsageTally {
  completionTokens: number;
  cachedTokens: number;
}

/**
 * Validates and normalises an OpenAI request, applies the chat template, tokenises, has the Router pick
 * a worker for each choice, and turns the workers' tokens back into text, honouring stop sequences.
 */
@Component({ name: 'processor' })
export class ProcessorComponent {
  private readonly logger = new Logger(ProcessorComponent.name);
  private readonly tokenizer = new Tokenizer();

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(RouterComponent) private readonly router: ComponentClient<RouterComponent>,
    @InjectComponent(WorkerComponent) private readonly worker: ComponentClient<WorkerComponent>,
  ) {}

  @Endpoint()
  async *generate(request: ProcessorRequest): AsyncGenerator<ProcessorEvent> {
    const normalized = validateOpenAIRequest(request.api, request.body, this.config.model);
    const promptIds = this.tokenize(normalized);
    this.logger.debug({ msg: `${normalized.api} request: ${promptIds.length} prompt tokens`, n: normalized.sampling.n });
    const { model, stream, includeUsage, sampling } = normalized;
    yield { type: 'accepted', model, promptTokens: promptIds.length, stream, includeUsage, n: sampling.n };
    const tally: UsageTally = { completionTokens: 0, cachedTokens: 0 };
    const choices = Array.from({ length: normalized.sampling.n }, (_, index) => this.choice(index, promptIds, normalized, tally));
    yield* mergeStreams(choices);
    yield { type: 'usage', promptTokens: promptIds.length, ...tally };
  }

  private tokenize(request: NormalizedRequest): number[] {
    if (request.messages !== undefined) return this.tokenizer.encodeChat(request.messages);
    if (Array.isArray(request.prompt)) {
      this.tokenizer.checkIds(request.prompt, 'prompt');
      return request.prompt;
    }
    return this.tokenizer.encode(request.prompt ?? '');
  }

  private async *choice(index: number, promptIds: number[], request: NormalizedRequest, tally: UsageTally): AsyncGenerator<ProcessorEvent> {
    const { workerId } = await unary(this.router.route({ tokenIds: promptIds }));
    const detokenizer = new IncrementalDetokenizer(this.tokenizer);
    const stops = new StopMatcher(request.sampling.stop);
    const { maxTokens, temperature, seed } = request.sampling;
    const original = { messages: request.messages, prompt: request.prompt };
    const generate = { tokenIds: promptIds, maxTokens, temperature, seed: (seed ?? 0) + index, original };
    const tokens = this.worker.generate(generate, { instance: workerId });
    let reason: FinishReason = 'length';
    for await (const output of tokens) {
      tally.completionTokens += output.tokenIds.length;
      if (output.cachedTokens !== undefined) tally.cachedTokens = Math.max(tally.cachedTokens, output.cachedTokens);
      const { text, stopped } = stops.push(detokenizer.push(output.tokenIds));
      if (text) yield { type: 'text', choice: index, text };
      // Leaving the loop stops the worker's stream: it generates no token past the stop sequence.
      if (stopped) {
        yield { type: 'finish', choice: index, reason: 'stop' };
        return;
      }
      if (output.finishReason !== undefined) reason = output.finishReason;
    }
    const tail = stops.push(detokenizer.flush());
    const rest = tail.stopped ? tail.text : tail.text + stops.flush();
    if (rest) yield { type: 'text', choice: index, text: rest };
    yield { type: 'finish', choice: index, reason: tail.stopped ? 'stop' : reason };
  }
}
