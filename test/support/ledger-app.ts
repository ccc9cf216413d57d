import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SignJWT } from 'jose';
import { loadConfig, type AppConfig } from '../../src/infrastructure/config/app-config';
import { createHttpApp } from '../../src/infrastructure/http-app';
import type { SqlClient } from '../../src/infrastructure/postgres/sql-client';
import { SQL_CLIENT } from '../../src/infrastructure/tokens';
import { createPostgresDatabase } from './databases';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/** Where a test service keeps its data: a fresh PGlite folder, or a fresh Postgres database. */
export interface LedgerStorage {
  readonly name: 'pglite' | 'postgres';
  readonly env: Readonly<Record<string, string>>;
  dispose(): Promise<void>;
}

export const storageTargets = (): ReadonlyArray<readonly [string, () => Promise<LedgerStorage>]> => {
  const targets: Array<readonly [string, () => Promise<LedgerStorage>]> = [['pglite', pgliteStorage]];
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (serverUrl) targets.push(['postgres', () => postgresStorage(serverUrl)]);
  return targets;
};

const pgliteStorage = async (): Promise<LedgerStorage> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-test-'));
  return {
    name: 'pglite',
    env: { LEDGER_DATA_DIR: dataDir },
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
};

const postgresStorage = async (serverUrl: string): Promise<LedgerStorage> => {
  const database = await createPostgresDatabase(serverUrl);
  return { name: 'postgres', env: { DATABASE_URL: database.url ?? '' }, dispose: () => database.drop() };
};

/** The service running on a real port, as a client sees it. */
export interface RunningLedger {
  readonly baseUrl: string;
  readonly app: NestFastifyApplication;
  readonly config: AppConfig;
  readonly sql: SqlClient;
  stop(): Promise<void>;
}

/** `port`: listen there instead of on a random port (for pages whose links must name the real port). */
export interface StartLedgerOptions {
  readonly port?: number;
}

export const startLedger = async (
  storage: LedgerStorage,
  env: Readonly<Record<string, string>> = {},
  options: StartLedgerOptions = {},
): Promise<RunningLedger> => {
  const config = loadConfig({ AUTH_JWT_SECRET: TEST_JWT_SECRET, PORT: '0', HOST: '127.0.0.1', ...storage.env, ...env });
  const app = await createHttpApp(config, false);
  await app.listen(options.port ?? 0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    app,
    config,
    sql: app.get<SqlClient>(SQL_CLIENT),
    stop: () => app.close(),
  };
};

export const tokenFor = (
  subject: string,
  role: string | undefined = 'user',
  options: { secret?: string; expiresIn?: string; claims?: Record<string, unknown> } = {},
): Promise<string> =>
  new SignJWT({ ...(role === undefined ? {} : { role }), ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));

export const countEvents = async (sql: SqlClient): Promise<number> => {
  const [row] = await sql.query<{ count: string }>('SELECT count(*)::text AS count FROM ledger_events');
  return Number(row?.count ?? 'NaN');
};

export const headPosition = async (sql: SqlClient): Promise<number> => {
  const [row] = await sql.query<{ position: string }>('SELECT coalesce(max(position), 0)::text AS position FROM ledger_events');
  return Number(row?.position ?? 0);
};

/** A TCP port that was free a moment ago (for startLedger's `port` option). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address !== null && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
