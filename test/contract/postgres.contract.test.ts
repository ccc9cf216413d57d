import type { SqlClient } from '../../src/infrastructure/postgres/sql-client';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { testDatabaseTargets, type TestDatabaseFactory } from '../support/databases';
import { describeEventStoreContract } from './event-store.contract';

// Short polls keep the subscription tests quick; production uses the adapter's default.
const POLL_INTERVAL_MS = 20;

/** Logs created before events were kept as json hold them as jsonb; the store must work on both. */
const toJsonbColumns = async (sql: SqlClient): Promise<void> => {
  await sql.query(
    `ALTER TABLE ledger_events ALTER COLUMN data TYPE jsonb USING data::jsonb, ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb`,
  );
};

const columnTypes = async (sql: SqlClient): Promise<Record<string, string>> => {
  const rows = await sql.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns
      WHERE table_name = 'ledger_events' AND column_name IN ('data', 'metadata') ORDER BY column_name`,
  );
  return Object.fromEntries(rows.map((row) => [row.column_name, row.data_type]));
};

const openStore = async (createDatabase: TestDatabaseFactory, layout: 'json' | 'jsonb') => {
  const database = await createDatabase();
  try {
    if (layout === 'jsonb') {
      await (await PostgresEventStore.open(database.client)).close();
      await toJsonbColumns(database.client);
    }
    const store = await PostgresEventStore.open(database.client, { pollIntervalMs: POLL_INTERVAL_MS });
    expect(await columnTypes(database.client)).toEqual({ data: layout, metadata: layout });
    return {
      store,
      dispose: async () => {
        await store.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
};

for (const [target, createDatabase] of testDatabaseTargets()) {
  describeEventStoreContract(`postgres-event-store on ${target}`, () => openStore(createDatabase, 'json'));
  describeEventStoreContract(`postgres-event-store on ${target}, a log created with jsonb columns`, () =>
    openStore(createDatabase, 'jsonb'),
  );
}
