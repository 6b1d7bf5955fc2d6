import { Module } from '@nestjs/common';
import { DemoController } from './demo.controller.js';
import { TickerService } from './ticker.service.js';

/** A small app that shows the request id at work until the LLM pipeline takes these routes over. */
@Module({ controllers: [DemoController], providers: [TickerService] })
export class DemoModule {}
