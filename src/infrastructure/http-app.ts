import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from './config/app-config';
import { LedgerModule } from './ledger.module';

/** Builds the HTTP application (Fastify) for a configuration, ready to listen. */
export const createHttpApp = async (config: AppConfig, logger: false | undefined = undefined): Promise<NestFastifyApplication> => {
  const adapter = new FastifyAdapter({ bodyLimit: config.bodyLimitBytes, trustProxy: false });
  const app = await NestFactory.create<NestFastifyApplication>(LedgerModule.forConfig(config), adapter, {
    ...(logger === false ? { logger: false } : {}),
    abortOnError: false,
  });
  app.enableShutdownHooks();
  return app;
};
