import { Inject, Logger } from '@nestjs/common';
import { Component, Endpoint, InjectComponent, unary } from '@threadline/runtime';
import type { ComponentClient, EndpointContext, OnComponentStart, OnComponentStop } from '@threadline/runtime';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import type {
  EmbeddingsCall,
  EmbeddingsResult,
  EmbedRequest,
  FinishReason,
  GenerateRequest,
  NormalizedRequest,
  ChoiceEvent,
  ProcessorEvent,
  ProcessorRequest,
  PromptBlocks,
  RouteRequest,
} from '../protocol/pipeline.types.js';
import { RouterComponent } from '../router/router.component.js';
import { WorkerComponent } from '../worker/worker.component.js';
import { admitAll, AdmittedTokens } from './admitted-tokens.js';
import { LogprobAligner, RefusalText, ToolCallTexts } from './choice-events.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import { mergeStreams } from './merge-streams.js';
import { migratingGeneration } from './migrating-generation.js';
import type { GenerationCalls } from './migrating-generation.js';
import { validateOpenAIRequest } from './openai-request.validator.js';
import { validateEmbeddingRequest } from './embeddings-request.js';
import { PromptEncoder } from './prompt-encoder.js';
import { StopMatcher } from './stop-matcher.js';
import { Tokenizer } from './tokenizer.js';

/** Token counts shared by the choices of one request. */
interface UsageTally {
  completionTokens: number;
  cachedTokens: number;
  /** The prompt's tokens as an engine counted them, when one did (`GenerateOutput.counted`). */
  promptTokens?: number;
  /** Of the completion tokens, the reasoning's, once a choice reasoned or an engine counted them. */
  reasoningTokens?: number;
  /**
   * An engine counted a choice's completion tokens but not its reasoning's: the reasoning is then not
   * reported, rather than counted by the pipeline's tokenizer beside a total counted by the engine's.
   */
  reasoningUncounted?: true;
}

/** The completions API's `max_tokens` when the client sets none. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/**
 * Validates and normalises an OpenAI request, applies the chat template, tokenises, has the Router pick
 * a worker for each choice, and turns the workers' tokens back into text, honouring stop sequences.
 */
@Component({ name: 'processor' })
export class ProcessorComponent implements OnComponentStart, OnComponentStop {
  private readonly logger = new Logger(ProcessorComponent.name);
  private readonly tokenizer = new Tokenizer();
  private prompts!: PromptEncoder;

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(RouterComponent) private readonly router: ComponentClient<RouterComponent>,
    @InjectComponent(WorkerComponent) private readonly worker: ComponentClient<WorkerComponent>,
  ) {}

  onComponentStart(): void {
    this.prompts = new PromptEncoder(this.tokenizer, this.config, this.logger);
  }

  async onComponentStop(): Promise<void> {
    await this.prompts.close();
  }

  @Endpoint()
  async *generate(request: ProcessorRequest, context: EndpointContext): AsyncGenerator<ProcessorEvent> {
    const normalized = validateOpenAIRequest(request.api, request.body, this.config.model);
    // Before any routing: a prompt that does not fit the context never reaches a worker.
    const { ids: promptIds, blocks, completionRoom } = await this.prompts.encode(normalized, context.signal);
    const restOfContext = normalized.api === 'chat' && normalized.sampling.maxTokens === undefined;
    // Without max_tokens, a chat completion may fill the rest of the context and no more, a text
    // completion 16 tokens of it (as OpenAI and vLLM default).
    normalized.sampling.maxTokens ??=
      normalized.api === 'chat' ? completionRoom : Math.min(COMPLETIONS_DEFAULT_MAX_TOKENS, completionRoom);
    this.logger.debug({
      msg: `${normalized.api} request: ${promptIds.length} prompt tokens`,
      n: normalized.sampling.n,
    });
    const { model, stream, includeUsage, continuousUsage, sampling } = normalized;
    // Accepted only once a worker has taken every choice, so that a refusal is still an HTTP status.
    const workers = await admitAll(
      Array.from({ length: sampling.n }, (_, index) =>
        this.admit(index, promptIds, blocks, normalized, restOfContext, context.signal),
      ),
    );
    try {
      const accepted: ProcessorEvent = {
        type: 'accepted',
        model,
        promptTokens: promptIds.length,
        stream,
        includeUsage,
        n: sampling.n,
      };
      if (continuousUsage) accepted.continuousUsage = true;
      yield accepted;
      const tally: UsageTally = { completionTokens: 0, cachedTokens: 0 };
      yield* mergeStreams(workers.map((tokens, index) => this.choice(index, tokens, normalized, tally)));
      const { promptTokens = promptIds.length, completionTokens, cachedTokens, reasoningTokens } = tally;
      const usage: ProcessorEvent = { type: 'usage', promptTokens, completionTokens, cachedTokens };
      if (reasoningTokens !== undefined && tally.reasoningUncounted !== true) usage.reasoningTokens = reasoningTokens;
      yield usage;
    } finally {
      // A consumer gone before a choice began reading its worker would leave that worker's slot taken.
      for (const tokens of workers) void tokens.stop().catch(() => undefined);
    }
  }

  /**
   * Has the Router pick a worker for choice `index`, and waits until that worker admits it; a worker
   * that is gone, before or during the stream, hands the choice on to another (migrating-generation.ts).
   */
  private async admit(
    index: number,
    promptIds: number[],
    blocks: PromptBlocks | undefined,
    request: NormalizedRequest,
    restOfContext: boolean,
    signal: AbortSignal,
  ): Promise<AdmittedTokens> {
    const { maxTokens, temperature, seed, given } = request.sampling;
    const sampling = given.seed === undefined ? given : { ...given, seed: given.seed + index };
    const original: GenerateRequest['original'] = { messages: request.messages, prompt: request.prompt, sampling };
    if (request.chatTemplate !== undefined) original.chatTemplate = request.chatTemplate;
    const generate: GenerateRequest = {
      tokenIds: promptIds,
      maxTokens,
      temperature,
      seed: (seed ?? 0) + index,
      original,
    };
    // The block ids go along only when computed with the ids: a short prompt's requests stay as they were.
    if (blocks !== undefined) generate.blocks = blocks;
    if (request.output !== undefined) generate.output = request.output;
    if (restOfContext) generate.restOfContext = true;
    const route = async (choice: RouteRequest) => (await unary(this.router.route(choice))).workerId;
    const { migrationLimit: limit } = this.config;
    if (limit === 0) {
      // Nothing can move: the worker's stream as it comes, without a layer that watches for its failure.
      const workerId = await route(blocks === undefined ? { tokenIds: promptIds } : { tokenIds: promptIds, blocks });
      return AdmittedTokens.of(this.worker.generate(generate, { instance: workerId }));
    }
    const calls: GenerationCalls = {
      route,
      generate: (continued, workerId) => this.worker.generate(continued, { instance: workerId }),
    };
    return AdmittedTokens.of(migratingGeneration(generate, calls, { limit, signal, logger: this.logger }));
  }

  /** Choice `index`'s events; each with the choice's tokens so far when the client asked for continuous usage. */
  private async *choice(
    index: number,
    tokens: AdmittedTokens,
    request: NormalizedRequest,
    tally: UsageTally,
  ): AsyncGenerator<ProcessorEvent> {
    const produced = { completionTokens: 0 };
    const events = this.choiceEvents(index, tokens, request, tally, produced);
    if (!request.continuousUsage) yield* events;
    else for await (const event of events) yield { ...event, completionTokens: produced.completionTokens };
  }

  private async *choiceEvents(
    index: number,
    tokens: AdmittedTokens,
    request: NormalizedRequest,
    tally: UsageTally,
    /** This choice's completion tokens as the tally holds them, until an engine's own count replaces them. */
    produced: { completionTokens: number },
  ): AsyncGenerator<ChoiceEvent> {
    const detokenizer = new IncrementalDetokenizer(this.tokenizer);
    const stops = new StopMatcher(request.sampling.stop);
    const toolCalls = new ToolCallTexts(this.tokenizer, index);
    const refusal = new RefusalText(this.tokenizer, index);
    const reasoning = new RefusalText(this.tokenizer, index, 'reasoning');
    // This choice's reasoning tokens as the tally holds them, until an engine's own count replaces them.
    let reasoned = 0;
    // Whether the engine counted this choice's completion without saying how much of it was reasoning.
    let engineOmitsReasoning = false;
    // When asked for, every text event carries the entries of the tokens it completes (maybe none).
    const logprobs = request.output?.top_logprobs === undefined ? undefined : new LogprobAligner();
    const textEvent = (text: string, entries = logprobs?.take(text)): ChoiceEvent =>
      entries === undefined
        ? { type: 'text', choice: index, text }
        : { type: 'text', choice: index, text, logprobs: entries };
    let reason: FinishReason = 'length';
    for await (const output of tokens) {
      tally.completionTokens += output.tokenIds.length;
      produced.completionTokens += output.tokenIds.length;
      if (output.cachedTokens !== undefined) tally.cachedTokens = Math.max(tally.cachedTokens, output.cachedTokens);
      if (output.counted !== undefined) {
        const { counted } = output;
        tally.completionTokens += counted.completionTokens - produced.completionTokens;
        produced.completionTokens = counted.completionTokens;
        tally.promptTokens = counted.promptTokens;
        if (counted.cachedTokens !== undefined) tally.cachedTokens = Math.max(tally.cachedTokens, counted.cachedTokens);
        if (counted.reasoningTokens !== undefined) {
          tally.reasoningTokens = (tally.reasoningTokens ?? 0) + counted.reasoningTokens - reasoned;
          reasoned = counted.reasoningTokens;
        } else engineOmitsReasoning = true;
        if (engineOmitsReasoning && reasoned > 0) tally.reasoningUncounted = true;
      }
      if (output.finishReason !== undefined) reason = output.finishReason;
      if (output.systemFingerprint !== undefined) {
        yield { type: 'fingerprint', choice: index, systemFingerprint: output.systemFingerprint };
      }
      // A tool call's arguments are not content: no stop sequence applies to them, and no logprobs.
      if (output.toolCall !== undefined) {
        const event = toolCalls.push({ ...output, toolCall: output.toolCall });
        if (event !== undefined) yield event;
        continue;
      }
      // So are the model's reasoning and a refusal.
      if (output.reasoning === true) {
        tally.reasoningTokens = (tally.reasoningTokens ?? 0) + output.tokenIds.length;
        reasoned += output.tokenIds.length;
        if (engineOmitsReasoning) tally.reasoningUncounted = true;
        const event = reasoning.push(output.tokenIds);
        if (event !== undefined) yield event;
        continue;
      }
      if (output.refusal === true) {
        const event = refusal.push(output.tokenIds);
        if (event !== undefined) yield event;
        continue;
      }
      logprobs?.add(output.logprobs);
      const { text, stopped } = stops.push(detokenizer.push(output.tokenIds));
      if (text) yield textEvent(text);
      // Leaving the loop stops the worker's stream: it generates no token past the stop sequence.
      if (stopped) {
        yield* reasoning.flush();
        yield* toolCalls.flush();
        yield* refusal.flush();
        yield { type: 'finish', choice: index, reason: 'stop' };
        return;
      }
    }
    yield* reasoning.flush();
    yield* toolCalls.flush();
    yield* refusal.flush();
    const tail = stops.push(detokenizer.flush());
    const rest = tail.stopped ? tail.text : tail.text + stops.flush();
    const entries =
      logprobs === undefined ? undefined : [...logprobs.take(rest), ...(tail.stopped ? [] : logprobs.rest())];
    if (rest || (entries !== undefined && entries.length > 0)) yield textEvent(rest, entries);
    yield { type: 'finish', choice: index, reason: tail.stopped ? 'stop' : reason };
  }

  /**
   * `POST /v1/embeddings`: validates the request, tokenizes its inputs (each held to the context length)
   * and has a worker, any one, compute the vectors: no KV cache is reused, so there is nothing to route.
   */
  @Endpoint()
  async embed(call: EmbeddingsCall, context: EndpointContext): Promise<EmbeddingsResult> {
    const request = validateEmbeddingRequest(call.body, this.config.model);
    const inputs = await this.prompts.encodeInputs(request.inputs, context.signal);
    this.logger.debug({ msg: `embeddings request: ${inputs.length} inputs`, dimensions: request.dimensions });
    const embed: EmbedRequest = { inputs, original: request.original };
    if (request.dimensions !== undefined) embed.dimensions = request.dimensions;
    const result = await unary(this.worker.embed(embed));
    return { ...result, model: request.model, encodingFormat: request.encodingFormat };
  }
}
