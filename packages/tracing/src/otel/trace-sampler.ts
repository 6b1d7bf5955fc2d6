import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { Sampler } from '@opentelemetry/sdk-trace-base';
import type { OtlpExportConfig } from './otlp-config.js';

/**
 * Whether a trace is sampled, decided where a request enters the process from the trace id and the
 * sampled flag of the `traceparent` it came in with (none for a trace that starts there). The spans carry
 * the decision and pass it on, so a parent-based sampler downstream follows the process where the trace
 * started, and every process of a trace exports it whole or not at all.
 */
export type TraceSampler = (traceId: string, incomingTraceparent: string | undefined) => boolean;

export function createTraceSampler(config: Pick<OtlpExportConfig, 'sampler' | 'ratio'>): TraceSampler {
  switch (config.sampler) {
    case 'always_on':
      return () => true;
    case 'always_off':
      return () => false;
    default: {
      const sampler = sdkSampler(config);
      return (traceId, incoming) => {
        // A valid traceparent was checked on the way in: `00-<trace id>-<parent id>-<flags>`.
        const parent =
          incoming?.slice(3, 35) === traceId
            ? trace.setSpanContext(ROOT_CONTEXT, {
                traceId,
                spanId: incoming.slice(36, 52),
                traceFlags: Number.parseInt(incoming.slice(53, 55), 16),
                isRemote: true,
              })
            : ROOT_CONTEXT;
        const result = sampler.shouldSample(parent, traceId, '', SpanKind.INTERNAL, {}, []);
        return result.decision === SamplingDecision.RECORD_AND_SAMPLED;
      };
    }
  }
}

/** The SDK's own samplers, so that the ratio cuts trace ids where other OpenTelemetry services cut them. */
function sdkSampler({ sampler, ratio }: Pick<OtlpExportConfig, 'sampler' | 'ratio'>): Sampler {
  switch (sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
