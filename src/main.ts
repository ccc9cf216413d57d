import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig, type AppConfig } from './infrastructure/config/app-config';
import { createHttpApp } from './infrastructure/http-app';

const DEV_SECRET_WARNING =
  'WARNING: no AUTH_JWT_SECRET is set. Using a DEVELOPMENT secret kept in the data folder. Never run like this in production. ' +
  'Get a token: npm run token -- --sub alice --role user (roles: user, service, admin, auditor)';

const describeStores = (config: AppConfig): string =>
  [
    config.eventStoreConnectionString === undefined ? 'events in Postgres' : 'events in EventStoreDB',
    config.databaseUrl === undefined ? `embedded PGlite in ${config.dataDir}` : 'Postgres at DATABASE_URL',
  ].join(', ');

const main = async (): Promise<void> => {
  const config = loadConfig(process.env);
  const app = await createHttpApp(config);
  await app.listen(config.port, config.host);
  // Nest's Logger now writes through the application's pino logger: JSON lines on stdout.
  const logger = new Logger('main');
  if (config.auth.kind === 'secret' && config.auth.development) logger.warn(DEV_SECRET_WARNING);
  logger.log(`credit ledger listening on http://${config.host}:${config.port} (${describeStores(config)})`);
};

main().catch((error: unknown) => {
  if (!(error instanceof ConfigError)) throw error;
  for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
  process.exit(78);
});
