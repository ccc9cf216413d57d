import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/infrastructure/config/app-config';

const problemsOf = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('configuration', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs with nothing configured: port 3000, embedded PGlite, a development secret kept across restarts', () => {
    const config = loadConfig({ LEDGER_DATA_DIR: dataDir });
    expect(config).toMatchObject({ production: false, port: 3000, databaseUrl: undefined, eventStoreConnectionString: undefined });
    expect(config.auth).toMatchObject({ kind: 'secret', development: true });
    const secret = readFileSync(join(dataDir, 'dev-jwt-secret'), 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(loadConfig({ LEDGER_DATA_DIR: dataDir }).auth).toEqual({ kind: 'secret', secret, development: true });
  });

  it('refuses to start in production without a real secret, naming the variable', () => {
    expect(problemsOf({ NODE_ENV: 'production', LEDGER_DATA_DIR: dataDir })).toEqual([
      expect.stringMatching(/^AUTH_JWT_SECRET: required in production/),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'short' })).toEqual([
      expect.stringMatching(/^AUTH_JWT_SECRET: expected at least 32 characters/),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32) })).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://issuer.example/.well-known/jwks.json' })).toEqual([]);
  });

  it('names every bad variable, one line each', () => {
    expect(
      problemsOf({
        AUTH_JWT_SECRET: 'dev',
        PORT: 'eighty',
        DATABASE_URL: 'mysql://nope',
        EVENTSTORE_CONNECTION_STRING: 'http://nope',
        IDEMPOTENCY_RETENTION_HOURS: '0',
      }).toSorted(),
    ).toEqual([
      'PORT="eighty": expected an integer from 0 to 65535',
      'IDEMPOTENCY_RETENTION_HOURS="0": expected an integer from 1 to 8760',
      'DATABASE_URL: expected a postgres:// or postgresql:// connection string',
      'EVENTSTORE_CONNECTION_STRING: expected an esdb:// connection string',
    ].toSorted());
  });
});
