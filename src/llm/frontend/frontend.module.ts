import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { EmbeddingsController } from './embeddings.controller.js';
import { FrontendController } from './frontend.controller.js';
import { ResponsesController } from './responses/responses.controller.js';
import { OpenAIErrorFilter } from './openai-error.filter.js';

/** The HTTP side of the pipeline: the OpenAI-compatible routes and OpenAI-shaped errors. */
@Module({
  controllers: [FrontendController, ResponsesController, EmbeddingsController],
  providers: [{ provide: APP_FILTER, useClass: OpenAIErrorFilter }],
})
export class FrontendModule {}
