import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PgliteSqlClient, PgSqlClient, type SqlClient } from '../../src/infrastructure/postgres/sql-client';

/**
 * The databases every Postgres suite runs against: embedded PGlite always, and the
 * real server named by TEST_DATABASE_URL when it is set. Each call makes a fresh,
 * empty database so no run depends on what an earlier one left behind.
 */
export interface TestDatabase {
  readonly name: 'pglite' | 'postgres';
  /** A connection string for a real server; undefined for PGlite (in memory). */
  readonly url: string | undefined;
  readonly client: SqlClient;
  drop(): Promise<void>;
}

export type TestDatabaseFactory = () => Promise<TestDatabase>;

export const testDatabaseTargets = (): ReadonlyArray<readonly [string, TestDatabaseFactory]> => {
  const targets: Array<readonly [string, TestDatabaseFactory]> = [['pglite', createPgliteDatabase]];
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (serverUrl) targets.push(['postgres', () => createPostgresDatabase(serverUrl)]);
  return targets;
};

export const createPgliteDatabase = async (): Promise<TestDatabase> => {
  const client = await PgliteSqlClient.open();
  return { name: 'pglite', url: undefined, client, drop: () => client.close() };
};

export const createPostgresDatabase = async (serverUrl: string): Promise<TestDatabase> => {
  const name = `ledger_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
  await withAdmin(serverUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(serverUrl, name);
  const client = PgSqlClient.connect(url, 20);
  return {
    name: 'postgres',
    url,
    client,
    drop: async () => {
      await client.close();
      await withAdmin(serverUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
};

const databaseUrl = (serverUrl: string, database: string): string => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

const withAdmin = async <T>(serverUrl: string, work: (admin: Client) => Promise<T>): Promise<T> => {
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
};
