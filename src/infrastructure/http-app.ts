import { NestFactory } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from './config/app-config';
import { validationFailed } from './http/api-error';
import { registerDashboard } from './http/dashboard';
import { registerSecurity, serverTimeouts } from './http/security';
import { LedgerModule } from './ledger.module';
import { observability, type LoggingChoice } from './observability/observability';

/** Builds the HTTP application (Fastify) for a configuration, ready to listen. */
export const createHttpApp = async (config: AppConfig, logger: LoggingChoice = undefined): Promise<NestFastifyApplication> => {
  const observe = observability(config, logger);
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    ...serverTimeouts(config),
    trustProxy: false,
    genReqId: observe.genReqId,
    // Live balance streams never go idle: on shutdown they are closed, not waited for.
    forceCloseConnections: true,
    // Account ids may be 128 characters; Fastify's default stops path parameters at 100.
    routerOptions: { maxParamLength: 256 },
    // A URL Fastify cannot route (bad percent-encoding, over-long parameter) still gets the API's error model.
    frameworkErrors: (error: Error, _request: unknown, reply: unknown) => {
      const apiError = validationFailed([{ field: 'path', problem: error.message }]);
      // Fastify's generic reply type is narrower than any concrete one: the runtime object is a FastifyReply.
      void (reply as FastifyReply).status(apiError.status).send(apiError.body());
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(LedgerModule.forConfig(config), adapter, {
    logger: observe.nestLogger,
    abortOnError: false,
    // The Stripe webhook's signature is over the exact bytes received.
    rawBody: true,
  });
  observe.attach(app);
  await registerSecurity(app, config);
  await registerDashboard(app, config);
  app.enableShutdownHooks();
  return app;
};
