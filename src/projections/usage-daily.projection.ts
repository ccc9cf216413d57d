import type { RecordedEvent } from '../application/event-store.port';
import type { CopyValue } from '../infrastructure/postgres/copy-text';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import { BloomFilter } from './bloom-filter';
import type { Projection, RowMemo, TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

/** Usage per account, service and UTC day: quantity in the service's unit, credits in millicredits. */
export interface UsageDailyRow {
  readonly accountId: string;
  readonly service: string;
  readonly day: string;
  readonly quantity: number;
  readonly creditsMillicredits: number;
}

/**
 * A batch's usage, summed per (account, service, day), by a key of its cell: length-prefixed,
 * so no two (account, service) pairs make the same key; the day is fixed-width.
 */
const deltasByCell = (events: readonly RecordedEvent[]): Map<string, UsageDailyRow> => {
  const totals = new Map<string, { -readonly [Field in keyof UsageDailyRow]: UsageDailyRow[Field] }>();
  for (const { event } of accountEventsOf(events)) {
    if (event.type !== 'CreditsUsed' && event.type !== 'ReservationCaptured') continue;
    const { accountId, service, quantity, chargedMillicredits, occurredAt } = event.data;
    const day = occurredAt.slice(0, 10);
    const key = `${accountId.length}:${accountId}${service.length}:${service}${day}`;
    const total = totals.get(key);
    if (total === undefined) totals.set(key, { accountId, service, day, quantity, creditsMillicredits: chargedMillicredits });
    else {
      total.quantity += quantity;
      total.creditsMillicredits += chargedMillicredits;
    }
  }
  return totals;
};

/**
 * The memo's entry for the cells its writer put in the table: a filter of their keys, or null
 * when the table already held rows as the memo began (any cell may be there).
 */
const CELLS_WRITTEN = 'cells written';

const cellsWritten = async (tx: SqlExecutor, name: string, memo: RowMemo): Promise<BloomFilter | null> => {
  const known = memo.get(CELLS_WRITTEN) as { readonly filter: BloomFilter | null } | undefined;
  if (known !== undefined) return known.filter;
  const [row] = await tx.query<{ empty: boolean }>(`SELECT NOT EXISTS (SELECT FROM ${name}) AS empty`);
  const filter = row?.empty === true ? new BloomFilter() : null;
  memo.set(CELLS_WRITTEN, { filter });
  return filter;
};

const DELTA_COLUMNS = ['account_id', 'service', 'day', 'quantity', 'credits'] as const;
const copyRowOf = (delta: UsageDailyRow): CopyValue[] => [delta.accountId, delta.service, delta.day, delta.quantity, delta.creditsMillicredits];

/** A rebuild's deltas of one page, on their way into its table (a temporary table: never shadows usage_daily). */
const REBUILD_DELTAS = 'usage_daily_rebuild_deltas';

/** The usage_daily table, named through `table`. */
const usageDailyTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('usage_daily'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        account_id text NOT NULL,
        service text NOT NULL,
        day date NOT NULL,
        quantity numeric(30, 0) NOT NULL,
        credits bigint NOT NULL,
        PRIMARY KEY (account_id, day, service)
      )`,
    secondaryIndexes: [
      `CREATE INDEX ON ${name} (day, service)`,
    ],
  };
};

export const usageDailyProjection: Projection = {
  name: 'usage_daily',
  tables: ['usage_daily'],

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    await createTableOnce(tx, usageDailyTable(table), options);
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, usageDailyTable(table));
  },

  // Additive: exactly-once comes from the runner committing these rows with the checkpoint.
  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer, memo?: RowMemo) {
    const deltas = deltasByCell(events);
    if (deltas.size === 0) return;
    const name = identifier(table('usage_daily'));
    const upsert = (source: string) =>
      `INSERT INTO ${name} AS u (account_id, service, day, quantity, credits)
       ${source}
       ON CONFLICT (account_id, day, service) DO UPDATE SET
         quantity = u.quantity + excluded.quantity, credits = u.credits + excluded.credits`;
    if (memo !== undefined) {
      // The memo's writer (a rebuild) is the table's only writer: a cell it surely never wrote
      // goes in by COPY, the cheapest insert there is; the others are added to what is there.
      const filter = await cellsWritten(tx, name, memo);
      const fresh: UsageDailyRow[] = [];
      const others: UsageDailyRow[] = [];
      for (const [key, delta] of deltas) (filter?.add(key) === true ? fresh : others).push(delta);
      if (fresh.length > 0) await tx.copyRows(name, DELTA_COLUMNS, fresh.map(copyRowOf));
      if (others.length === 0) return;
      // A rebuild's pages are big: the deltas go to a scratch table by COPY, which costs the
      // server half of parsing them out of JSON. Emptied at commit, and private to the session.
      await tx.query(
        `CREATE TEMP TABLE IF NOT EXISTS ${REBUILD_DELTAS} (account_id text, service text, day date, quantity numeric, credits bigint) ON COMMIT DELETE ROWS`,
      );
      await tx.copyRows(REBUILD_DELTAS, DELTA_COLUMNS, others.map(copyRowOf));
      await tx.query(upsert(`SELECT account_id, service, day, quantity, credits FROM ${REBUILD_DELTAS}`));
      return;
    }
    await tx.query(
      upsert(`SELECT r."accountId", r.service, r.day, r.quantity, r."creditsMillicredits"
         FROM json_to_recordset($1::json) AS r("accountId" text, service text, day date, quantity numeric, "creditsMillicredits" bigint)`),
      [JSON.stringify([...deltas.values()])],
    );
  },
};
