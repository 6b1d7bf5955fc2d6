import type { Logger } from '@nestjs/common';
import type { LlmConfig } from '../llm.config.js';
import type { NormalizedRequest, PromptBlocks } from '../protocol/pipeline.types.js';
import { chatTemplateParts } from './chat-template.js';
import type { TemplatePart } from './chat-template.js';
import { assertFitsContext } from './context-length.js';
import { assertInputFits, inputParam } from './embeddings-request.js';
import type { NormalizedEmbeddingRequest } from './embeddings-request.js';
import { ContextLimit } from './context-limit.js';
import { fewestTokens, templateLayout, templateTexts } from './tokenizer.js';
import type { Tokenizer } from './tokenizer.js';
import { TokenizerPool } from './tokenizer-pool.js';

/** A prompt's token ids, and its KV block ids when they were computed with them. */
export interface EncodedPrompt {
  ids: number[];
  blocks?: PromptBlocks;
  /** The context left for the completion (at least 1): its length when the request sets none, as vLLM's. */
  completionRoom: number;
}

/**
 * Turns a request's prompt into token ids, holding it to the model's context length: a prompt whose
 * size alone shows it cannot fit is refused without being tokenized, any other once its tokens are
 * counted. Long prompts are tokenized in worker threads, so that none holds up the event loop.
 */
export class PromptEncoder {
  private readonly pool: TokenizerPool;
  private readonly contextLimit: ContextLimit;
  private readonly blockSize: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    config: LlmConfig,
    logger: Pick<Logger, 'log' | 'warn' | 'debug'>,
  ) {
    this.pool = new TokenizerPool(config.tokenizerThreads);
    this.contextLimit = new ContextLimit(config, logger);
    this.contextLimit.start();
    this.blockSize = config.mocker.blockSize;
  }

  /**
   * The prompt's token ids, and for a long prompt tokenized in a thread its KV block ids, computed there
   * too; an InvalidRequestError (`context_length_exceeded`) when it does not fit.
   */
  async encode(request: NormalizedRequest, signal?: AbortSignal): Promise<EncodedPrompt> {
    const maxModelLen = this.contextLimit.value;
    const demand = {
      completionTokens: request.sampling.maxTokens,
      param: request.api === 'chat' ? 'messages' : 'prompt',
    } as const;
    if (Array.isArray(request.prompt)) {
      this.tokenizer.checkIds(request.prompt, 'prompt');
      assertFitsContext(maxModelLen, { ...demand, promptTokens: request.prompt.length, atLeast: false });
      return { ids: request.prompt, completionRoom: maxModelLen - request.prompt.length };
    }
    const parts: TemplatePart[] =
      request.messages !== undefined
        ? chatTemplateParts(request.messages, request.output?.tools, request.chatTemplate)
        : [{ text: request.prompt ?? '' }];
    const enough = maxModelLen - (demand.completionTokens ?? 1);
    assertFitsContext(maxModelLen, { ...demand, promptTokens: fewestTokens(parts, enough), atLeast: true });
    const texts = templateTexts(parts);
    const specials = parts.length - texts.length;
    const room = maxModelLen - (demand.completionTokens ?? 1) - specials;
    const task = { texts, keepUpTo: room, template: templateLayout(parts), blockSize: this.blockSize };
    const encoded = await this.pool.encodeTexts(task, signal);
    assertFitsContext(maxModelLen, { ...demand, promptTokens: specials + encoded.count, atLeast: false });
    // The ids are there: the count fits the room.
    const ids = encoded.promptIds!;
    const completionRoom = maxModelLen - ids.length;
    return encoded.blockHashes === undefined
      ? { ids, completionRoom }
      : { ids, completionRoom, blocks: { blockSize: this.blockSize, hashes: encoded.blockHashes } };
  }

  /**
   * The token ids of each input of an embeddings request, each held to the context length on its own:
   * one that cannot fit is refused, naming it, before it is tokenized when its size alone shows it.
   */
  async encodeInputs(inputs: NormalizedEmbeddingRequest['inputs'], signal?: AbortSignal): Promise<number[][]> {
    const maxModelLen = this.contextLimit.value;
    if ('tokenIds' in inputs) {
      inputs.tokenIds.forEach((ids, i) => {
        const param = inputParam(i, inputs.tokenIds.length);
        this.tokenizer.checkIds(ids, param);
        assertInputFits(maxModelLen, ids.length, false, param);
      });
      return inputs.tokenIds;
    }
    const { texts } = inputs;
    texts.forEach((text, i) =>
      assertInputFits(maxModelLen, fewestTokens([{ text }]), true, inputParam(i, texts.length)),
    );
    const encoded = await this.pool.encodeTexts({ texts, keepUpTo: maxModelLen * texts.length }, signal);
    if (encoded.ids === undefined) {
      // More tokens than every input at the limit: one at least is past it. Found one by one, to name it.
      for (const [i, text] of texts.entries()) {
        const alone = await this.pool.encodeTexts({ texts: [text], keepUpTo: maxModelLen }, signal);
        assertInputFits(maxModelLen, alone.count, false, inputParam(i, texts.length));
      }
    }
    encoded.ids!.forEach((ids, i) => assertInputFits(maxModelLen, ids.length, false, inputParam(i, texts.length)));
    return encoded.ids!;
  }

  async close(): Promise<void> {
    this.contextLimit.stop();
    await this.pool.close();
  }
}
