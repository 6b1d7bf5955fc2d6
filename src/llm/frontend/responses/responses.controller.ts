import { Body, Controller, Delete, Get, HttpCode, Inject, Logger, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EndpointError, InjectComponent } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { LogComponent, RequestId } from '@threadline/tracing';
import { LLM_CONFIG } from '../../llm.config.js';
import type { LlmConfig } from '../../llm.config.js';
import { MetricsService } from '../../../observability/metrics/metrics.service.js';
import { ProcessorComponent } from '../../processor/processor.component.js';
import { servePipeline } from '../pipeline-call.js';
import { requestForBus } from '../request-shape.js';
import { InvalidRequestError } from '../../protocol/invalid-request.error.js';
import { parseResponsesRequest } from './responses-request.js';
import type { ResponsesRequest } from './responses-request.js';
import { ResponsesRendering } from './responses-render.js';

/**
 * The chat parameters a Processor or Worker refusal may name, in Responses terms: a prompt too long
 * names `messages`, a tool's schema that does not compile `tools[i].function.parameters`, one no value
 * satisfies `response_format.json_schema.schema`.
 */
const RESPONSES_PARAMS: Array<[RegExp, string]> = [
  [/^messages\b.*$/, 'input'],
  [/^max_completion_tokens$/, 'max_output_tokens'],
  [/^tools\[(\d+)\]\.function\./, 'tools[$1].'],
  [/^tool_choice\.function\./, 'tool_choice.'],
  [/^response_format\.json_schema\./, 'text.format.'],
  [/^response_format\b/, 'text.format'],
];

/**
 * OpenAI's Responses API (`POST /v1/responses`) on the same pipeline as chat/completions: the request
 * becomes the chat request of the same generation, and the Processor's events become a `response`
 * object or its stream of events.
 */
@LogComponent('frontend')
@Controller()
export class ResponsesController {
  private readonly logger = new Logger('Frontend');

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(ProcessorComponent) private readonly processor: ComponentClient<ProcessorComponent>,
    private readonly metrics: MetricsService,
  ) {}

  @Post('v1/responses')
  @HttpCode(200)
  async create(@Body() body: unknown, @Res() reply: FastifyReply, @RequestId() requestId: string): Promise<void> {
    this.logger.debug('serving responses');
    const { config, processor, metrics, logger } = this;
    let request: ResponsesRequest | undefined;
    try {
      await servePipeline(
        { config, processor, metrics, logger },
        {
          api: 'chat',
          endpoint: 'responses',
          requestId,
          reply,
          body: () => {
            request = parseResponsesRequest(body);
            try {
              return requestForBus('chat', request.chat);
            } catch (error) {
              // A field nested too deep, named as in the chat body.
              const renamed = error instanceof InvalidRequestError ? responsesParam(error.param) : undefined;
              if (renamed === undefined || !(error instanceof InvalidRequestError)) throw error;
              const { param, message } = renamed;
              throw new InvalidRequestError(message(error.message), param, error.status, error.code);
            }
          },
          render: (accepted) => new ResponsesRendering(requestId, accepted.model, request!.settings),
        },
      );
    } catch (error) {
      throw inResponsesTerms(error);
    }
  }

  /** A stored response, its input items, its cancellation or deletion: none is stored, so every id is unknown. */
  @Get(['v1/responses/:id', 'v1/responses/:id/input_items'])
  retrieve(@Param('id') id: string, @RequestId() requestId: string): never {
    throw responseNotStored(id, requestId, 'responses.retrieve');
  }

  @Post('v1/responses/:id/cancel')
  cancel(@Param('id') id: string, @RequestId() requestId: string): never {
    throw responseNotStored(id, requestId, 'responses.cancel');
  }

  @Delete('v1/responses/:id')
  remove(@Param('id') id: string, @RequestId() requestId: string): never {
    throw responseNotStored(id, requestId, 'responses.delete');
  }
}

/** The most of a response id a refusal repeats. */
const SHOWN_ID_LENGTH = 64;

/** OpenAI's answer to a response id it does not know: every id, here, where nothing is stored. */
function responseNotStored(id: string, requestId: string, endpoint: string): EndpointError {
  const shown = id.length > SHOWN_ID_LENGTH ? `${id.slice(0, SHOWN_ID_LENGTH)}…` : id;
  return new EndpointError({
    message: `Response with id '${shown}' not found: this server stores no responses (store is always false).`,
    status: 404,
    code: 'not_found',
    expected: true,
    requestId,
    component: 'frontend',
    endpoint,
  });
}

/** A refusal from the Processor, which checked the chat request, naming the Responses parameter instead. */
function inResponsesTerms(error: unknown): unknown {
  // This controller's own refusals name the Responses parameters already.
  if (!(error instanceof EndpointError) || error.component === 'frontend') return error;
  const renamed = responsesParam(error.param);
  if (renamed === undefined) return error;
  return new EndpointError({ ...error.toJSON(), param: renamed.param, message: renamed.message(error.message) });
}

/** A chat parameter's Responses name, and the refusal's message naming it so. */
function responsesParam(
  chatParam: string | undefined,
): { param: string; message: (text: string) => string } | undefined {
  if (chatParam === undefined) return undefined;
  const rename = RESPONSES_PARAMS.find(([pattern]) => pattern.test(chatParam));
  if (rename === undefined) return undefined;
  const param = chatParam.replace(rename[0], rename[1]);
  return { param, message: (text) => text.split(chatParam).join(param) };
}
