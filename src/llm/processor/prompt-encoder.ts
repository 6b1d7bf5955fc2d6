import type { Logger } from '@nestjs/common';
import type { LlmConfig } from '../llm.config.js';
import type { NormalizedRequest } from '../protocol/pipeline.types.js';
import { chatTemplateParts } from './chat-template.js';
import type { TemplatePart } from './chat-template.js';
import { assertFitsContext } from './context-length.js';
import { resolveMaxModelLen } from './context-limit.js';
import { fewestTokens, joinTemplate, templateTexts } from './tokenizer.js';
import type { Tokenizer } from './tokenizer.js';
import { TokenizerPool } from './tokenizer-pool.js';

/**
 * Turns a request's prompt into token ids, holding it to the model's context length: a prompt whose
 * size alone shows it cannot fit is refused without being tokenized, any other once its tokens are
 * counted. Long prompts are tokenized in worker threads, so that none holds up the event loop.
 */
export class PromptEncoder {
  private readonly pool: TokenizerPool;
  private readonly maxModelLen: Promise<number>;

  constructor(
    private readonly tokenizer: Tokenizer,
    config: LlmConfig,
    logger: Pick<Logger, 'log' | 'warn'>,
  ) {
    this.pool = new TokenizerPool(config.tokenizerThreads);
    this.maxModelLen = resolveMaxModelLen(config, logger);
  }

  /** The prompt's token ids; an InvalidRequestError (`context_length_exceeded`) when it does not fit. */
  async encode(request: NormalizedRequest, signal?: AbortSignal): Promise<number[]> {
    const maxModelLen = await this.maxModelLen;
    const demand = { completionTokens: request.sampling.maxTokens, param: request.api === 'chat' ? 'messages' : 'prompt' } as const;
    if (Array.isArray(request.prompt)) {
      this.tokenizer.checkIds(request.prompt, 'prompt');
      assertFitsContext(maxModelLen, { ...demand, promptTokens: request.prompt.length, atLeast: false });
      return request.prompt;
    }
    const parts: TemplatePart[] = request.messages !== undefined ? chatTemplateParts(request.messages) : [{ text: request.prompt ?? '' }];
    assertFitsContext(maxModelLen, { ...demand, promptTokens: fewestTokens(parts), atLeast: true });
    const texts = templateTexts(parts);
    const specials = parts.length - texts.length;
    const room = maxModelLen - (demand.completionTokens ?? 1) - specials;
    const encoded = await this.pool.encodeTexts({ texts, keepUpTo: room }, signal);
    assertFitsContext(maxModelLen, { ...demand, promptTokens: specials + encoded.count, atLeast: false });
    // The ids are there: the count fits the room.
    return joinTemplate(parts, encoded.ids!);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
