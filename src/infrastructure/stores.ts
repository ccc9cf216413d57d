import { join } from 'node:path';
import type { EventStore } from '../application/event-store.port';
import type { AppConfig } from './config/app-config';
import { EventStoreDbEventStore } from './event-store/eventstoredb-event-store';
import { PostgresEventStore } from './event-store/postgres-event-store';
import { claimDataDir } from './postgres/data-dir-lock';
import { PgliteSqlClient, PgSqlClient, type SqlClient } from './postgres/sql-client';

const POOL_SIZE = 20;

/** Postgres at DATABASE_URL, or PGlite embedded in the data folder (one process at a time). */
export const openSqlClient = async (config: AppConfig): Promise<SqlClient> => {
  if (config.databaseUrl !== undefined) return PgSqlClient.connect(config.databaseUrl, POOL_SIZE);
  const release = claimDataDir(config.dataDir);
  try {
    return (await PgliteSqlClient.open(join(config.dataDir, 'pglite'))).onClose(release);
  } catch (error) {
    release();
    throw error;
  }
};

/** Events in EventStoreDB when it is configured, else in the same Postgres. */
export const openEventStore = (config: AppConfig, sql: SqlClient): Promise<EventStore> =>
  config.eventStoreConnectionString === undefined
    ? PostgresEventStore.open(sql)
    : Promise.resolve(EventStoreDbEventStore.connect(config.eventStoreConnectionString));
