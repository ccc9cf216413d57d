import type { EventStore } from '../../src/application/event-store.port';
import type { SqlClient, SqlExecutor } from '../../src/infrastructure/postgres/sql-client';
import { readCheckpoint } from '../../src/projections/checkpoints';
import type { Projection, TableNamer } from '../../src/projections/projection';
import { identifier } from '../../src/projections/sql-helpers';

/** Where a from-scratch replay builds its copy of a projection's tables. */
export const EXPECTED_SUFFIX = '__expected';
export const expectedTables: TableNamer = (base) => `${base}${EXPECTED_SUFFIX}`;

/** A total order of each read-model table's rows (its primary key), so equal content hashes equal. */
export const ROW_ORDER: Readonly<Record<string, string>> = {
  balances: 'account_id',
  transactions: 'account_id, stream_revision',
  usage_daily: 'account_id, day, service',
  purchases: 'payment_reference',
  expiry_schedule: 'kind, ref_id',
  alert_outbox: 'alert_id',
};

const REPLAY_PAGE_SIZE = 250;

/** md5 of every row of `table`, as text, in `orderBy` order: two tables hash alike only when every row is identical. */
export const tableHash = async (sql: SqlExecutor, table: string, orderBy: string): Promise<string> => {
  const [row] = await sql.query<{ hash: string }>(
    `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY ${orderBy}), '')) AS hash FROM ${identifier(table)} t`,
  );
  if (row === undefined) throw new Error(`no hash for ${table}`);
  return row.hash;
};

export const rowCount = async (sql: SqlExecutor, table: string): Promise<number> => {
  const [row] = await sql.query<{ count: string }>(`SELECT count(*)::text AS count FROM ${identifier(table)}`);
  return Number(row?.count ?? Number.NaN);
};

const orderOf = (table: string): string => {
  const order = ROW_ORDER[table];
  if (order === undefined) throw new Error(`no row order known for table ${table}`);
  return order;
};

/**
 * Builds `projection` into fresh tables named by `table` (dropped first) from the start
 * of the log, page by page through `store.readAll` and `projection.apply`, with no
 * runner and no checkpoint: the reference a live projection must equal.
 */
export const replayFromScratch = async (
  sql: SqlClient,
  store: EventStore,
  projection: Projection,
  table: TableNamer = expectedTables,
): Promise<{ readonly events: number; readonly position: bigint | null }> => {
  await sql.transaction(async (tx) => {
    for (const base of projection.tables) await tx.query(`DROP TABLE IF EXISTS ${identifier(table(base))}`);
    await projection.createTables(tx, table);
  });
  let position: bigint | null = null;
  let events = 0;
  for (;;) {
    const page = await store.readAll(position, REPLAY_PAGE_SIZE);
    const last = page.at(-1);
    if (last === undefined) return { events, position };
    await sql.transaction((tx) => projection.apply(tx, page, table));
    events += page.length;
    position = last.position;
  }
}

export interface TableComparison {
  readonly table: string;
  readonly live: string;
  readonly replayed: string;
  readonly rows: number;
}

/** Replays `projection` from scratch and hashes each of its live tables next to its replayed twin. */
export const compareWithReplay = async (
  sql: SqlClient,
  store: EventStore,
  projection: Projection,
): Promise<readonly TableComparison[]> => {
  await replayFromScratch(sql, store, projection, expectedTables);
  return Promise.all(
    projection.tables.map(async (table) => ({
      table,
      live: await tableHash(sql, table, orderOf(table)),
      replayed: await tableHash(sql, expectedTables(table), orderOf(table)),
      rows: await rowCount(sql, table),
    })),
  );
};

/** Position of the last committed event of the Postgres event store's log; null when it is empty. */
export const lastLogPosition = async (sql: SqlExecutor): Promise<bigint | null> => {
  const [row] = await sql.query<{ position: string | null }>('SELECT max(position)::text AS position FROM ledger_events');
  return row?.position == null ? null : BigInt(row.position);
};

/** Polls until `condition` holds, or fails with `what` (and `state()`, what was last seen) once `timeoutMs` has passed. */
export const eventually = async (
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  intervalMs = 10,
  state: () => string = () => '',
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${state()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};

/**
 * Waits until every named projection's checkpoint is `position`. The Postgres store reads
 * only below the oldest transaction running anywhere on the server (transaction ids are
 * server-wide), so a transaction held open in another database delays this too.
 */
export const waitForCheckpoints = async (sql: SqlExecutor, names: readonly string[], position: bigint | null, timeoutMs = 10_000): Promise<void> => {
  let seen: readonly (bigint | null)[] = [];
  await eventually(
    `checkpoints of ${names.join(', ')} to reach ${String(position)}`,
    async () => {
      seen = await Promise.all(names.map((name) => readCheckpoint(sql, name)));
      return seen.every((checkpoint) => checkpoint === position);
    },
    timeoutMs,
    10,
    () => `(last seen: ${seen.map(String).join(', ')})`,
  );
};
