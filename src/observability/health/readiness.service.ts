import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { HealthCheckResult, HealthIndicatorFunction, HealthIndicatorResult } from '@nestjs/terminus';
import { RuntimeReadiness } from '@threadline/runtime';

export const READINESS_ENTRY_POINTS = Symbol('READINESS_ENTRY_POINTS');
/** The optional components to report, by name, each with what it means that none runs. */
export const READINESS_OPTIONAL = Symbol('READINESS_OPTIONAL');

/** A readiness answer: 200 with every check up, 503 with what is missing named under `error`. */
export interface ReadinessAnswer {
  status: 200 | 503;
  body: HealthCheckResult;
}

/**
 * `GET /ready`: whether this process can serve a request now, as Terminus health indicators: `nats`
 * (connected, where the transport needs it) and one per component its requests reach (a live instance
 * of it). `GET /health` is liveness alone: the process answers.
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger('Health');
  private lastStatus: ReadinessAnswer['status'] | undefined;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly runtime: RuntimeReadiness,
    @Inject(READINESS_ENTRY_POINTS) private readonly entryPoints: readonly object[],
    @Inject(READINESS_OPTIONAL) private readonly optional: Readonly<Record<string, string>>,
  ) {}

  async check(): Promise<ReadinessAnswer> {
    const report = await this.runtime.check(this.entryPoints);
    const indicators: HealthIndicatorFunction[] = [];
    if (report.bus.needed) indicators.push(() => this.bus(report.bus.connected, report.bus.url));
    for (const { name, instances } of report.components) indicators.push(() => this.component(name, instances));
    for (const { name, instances } of report.optional) {
      const absence = this.optional[name];
      if (absence !== undefined) indicators.push(() => this.optionalComponent(name, instances, absence));
    }
    let answer: ReadinessAnswer;
    try {
      answer = { status: 200, body: await this.health.check(indicators) };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      answer = { status: 503, body: error.getResponse() as HealthCheckResult };
    }
    this.logChange(answer);
    return answer;
  }

  private bus(connected: boolean, url: string | undefined): HealthIndicatorResult {
    const nats = this.indicator.check('nats');
    return connected ? nats.up({ url }) : nats.down({ url, message: `not connected to NATS at ${url}` });
  }

  private component(name: string, instances: number): HealthIndicatorResult {
    const check = this.indicator.check(name);
    return instances > 0 ? check.up({ instances }) : check.down({ instances, message: `no live instance of ${name}` });
  }

  /** Up either way: the requests are served without it. */
  private optionalComponent(name: string, instances: number, absence: string): HealthIndicatorResult {
    const check = this.indicator.check(name);
    return instances > 0
      ? check.up({ instances, optional: true })
      : check.up({ instances, optional: true, message: absence });
  }

  /** One line when readiness changes, not one per probe. */
  private logChange({ status, body }: ReadinessAnswer): void {
    if (status === this.lastStatus) return;
    const first = this.lastStatus === undefined;
    this.lastStatus = status;
    if (status === 200) {
      if (!first) this.logger.log('ready');
    } else this.logger.warn({ msg: `not ready: ${Object.keys(body.error ?? {}).join(', ') || body.status}` });
  }
}
