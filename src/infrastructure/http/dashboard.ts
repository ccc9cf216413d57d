import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../config/app-config';
import { ApiError } from './api-error';
import { devTokensEnabled } from './dev-token.controller';

/**
 * `npm run build` bundles the dashboard into dist/dashboard. This file sits at
 * src/infrastructure/http (Jest) or dist/infrastructure/http (built): both are three
 * levels below the project root.
 */
export const DEFAULT_DASHBOARD_DIR = join(__dirname, '..', '..', '..', 'dist', 'dashboard');

const DEV_TOKENS_META = '<meta name="ledger-dev-tokens" content="disabled">';

const notBuilt = (reply: FastifyReply) => {
  const error = new ApiError('not_found', 'the dashboard is not built: run npm run build');
  return reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
};

/**
 * Serves the dashboard at /dashboard: a static page (no token needed to load it; every
 * API call it makes carries the user's token). Routes registered on Fastify directly are
 * outside Nest's guard, so they are public like PublicRoute ones. The page is told
 * whether `POST /api/dev/token` exists, so it shows "Get a development token" only then.
 */
export const registerDashboard = async (app: NestFastifyApplication, config: AppConfig, root: string = DEFAULT_DASHBOARD_DIR): Promise<void> => {
  // Nest's adapter brings its own copy of Fastify's typings; the instance is the same Fastify 5.
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  const indexFile = join(root, 'index.html');
  const devTokens = devTokensEnabled(config);
  const index = async (_request: unknown, reply: FastifyReply) => {
    if (!existsSync(indexFile)) return notBuilt(reply);
    const html = readFileSync(indexFile, 'utf8');
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(devTokens ? html.replace(DEV_TOKENS_META, DEV_TOKENS_META.replace('disabled', 'enabled')) : html);
  };
  fastify.get('/dashboard', index);
  fastify.get('/dashboard/', index);
  if (!existsSync(root)) {
    fastify.get('/dashboard/*', async (_request, reply) => notBuilt(reply));
    return;
  }
  await fastify.register(fastifyStatic, {
    root,
    prefix: '/dashboard/',
    index: false,
    redirect: false,
    // Another plugin (the OpenAPI UI) may decorate the reply; the dashboard needs no decorator.
    decorateReply: false,
    // Bundles keep their names across builds: browsers revalidate them (ETag) on every load.
    maxAge: 0,
  });
};
