import type { LoggerService, Provider } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { IncomingMessage } from 'node:http';
import { COMMAND_OBSERVER } from '../../application/accounts/command-observer.port';
import type { EventStore } from '../../application/event-store.port';
import type { AppConfig } from '../config/app-config';
import { observeHttp } from './http-observability';
import { LedgerMetrics } from './ledger-metrics';
import { createLogger, PinoNestLogger, secretsOf } from './logger';
import { MeteredEventStore } from './metered-event-store';
import { setUpOpenApi } from './openapi';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-context';
import { WEBHOOK_OBSERVER } from './webhook-observer.port';

/** `createHttpApp`'s logging: `false` is off (unless LOG_LEVEL is set); a destination captures the lines (tests). */
export type LoggingChoice = false | { readonly destination: DestinationStream } | undefined;

/** Metrics (one registry per application), and the observers the write path and the webhook report to. */
export const observabilityProviders: Provider[] = [
  { provide: LedgerMetrics, useFactory: () => new LedgerMetrics() },
  { provide: COMMAND_OBSERVER, useExisting: LedgerMetrics },
  { provide: WEBHOOK_OBSERVER, useExisting: LedgerMetrics },
];

/** The event store as the application sees it: every append timed. */
export const meteredEventStore = (store: EventStore, metrics: LedgerMetrics): EventStore => new MeteredEventStore(store, metrics.appendSeconds);

export interface Observability {
  readonly logger: Logger;
  /** For NestFactory: Nest's own lines as JSON. */
  readonly nestLogger: LoggerService;
  /** For the Fastify adapter: the request id of every request. */
  readonly genReqId: (request: IncomingMessage) => string;
  /** Request ids, latency metrics and request logs, then the OpenAPI document at /docs. */
  attach(app: NestFastifyApplication): void;
}

export const observability = (config: AppConfig, choice: LoggingChoice): Observability => {
  const level = choice === false && !config.logLevelExplicit ? 'silent' : config.logLevel;
  const logger = createLogger({
    level,
    secrets: secretsOf(config),
    ...(choice === false || choice === undefined ? {} : { destination: choice.destination }),
  });
  return {
    logger,
    nestLogger: new PinoNestLogger(logger),
    genReqId: (request) => requestIdFrom(request.headers[REQUEST_ID_HEADER]),
    attach: (app) => {
      // Nest's adapter brings its own copy of Fastify's typings; the instance is the same Fastify 5.
      observeHttp(app.getHttpAdapter().getInstance() as unknown as FastifyInstance, app.get(LedgerMetrics), logger);
      setUpOpenApi(app);
    },
  };
};
