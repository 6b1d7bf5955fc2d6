import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions } from '@opentelemetry/otlp-exporter-base/node-http';

type AgentFactory = ReturnType<typeof convertLegacyHttpOptions>['agentFactory'];

/**
 * The agents the SDK would use for `config` (its agent options, else the OTEL_EXPORTER_OTLP_*
 * certificates, else its default), each telling `seen` of its connections' errors: the SDK retries a
 * refused connection until its timeout and says nothing of why it failed until then.
 */
export function agentsTellingErrors(config: OTLPExporterNodeConfigBase, seen: (error: Error) => void): AgentFactory {
  const factory = convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {}).agentFactory;
  return async (protocol) => {
    const agent = await factory(protocol);
    const create = agent.createConnection.bind(agent);
    agent.createConnection = (options: ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void) => {
      const socket = create(options, callback);
      socket?.on('error', seen);
      return socket;
    };
    return agent;
  };
}
