import { createPostgresDatabase, type TestDatabase } from '../../support/databases';

/** A fresh database on the shared server (TEST_DATABASE_URL), dropped afterwards: for suites that never stop Postgres. */
export const SHARED_SERVER_URL = process.env['TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres';

export const freshSharedDatabase = async (): Promise<TestDatabase & { readonly url: string }> => {
  const database = await createPostgresDatabase(SHARED_SERVER_URL);
  if (database.url === undefined) throw new Error('no url for the shared database');
  return { ...database, url: database.url };
};
