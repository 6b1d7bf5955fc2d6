import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FrontendController } from './frontend.controller.js';
import { OpenAIErrorFilter } from './openai-error.filter.js';

/** The HTTP side of the pipeline: the OpenAI-compatible routes and OpenAI-shaped errors. */
@Module({
  controllers: [FrontendController],
  providers: [{ provide: APP_FILTER, useClass: OpenAIErrorFilter }],
})
export class FrontendModule {}
