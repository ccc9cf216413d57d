import type { RecordedEvent } from '../application/event-store.port';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import type { CreateTablesOptions } from './sql-helpers';

/**
 * A read model kept from the ordered log. `apply` gets a batch in log order and writes
 * it inside the runner's transaction (together with the checkpoint), so it must only
 * use the executor it is given. Tables are named through `table()`, so a rebuild can
 * build the same model under other names and swap them in.
 */
export interface Projection {
  readonly name: string;
  /** The tables the projection owns, by their live names. */
  readonly tables: readonly string[];
  /**
   * The event types `apply` writes anything for; undefined means every type. A batch with
   * none of them only moves the checkpoint, in one statement instead of a transaction.
   */
  readonly handles?: ReadonlySet<string>;
  createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions): Promise<void>;
  /** Builds the secondary indexes that createTables left out with `deferSecondaryIndexes`. */
  createSecondaryIndexes(tx: SqlExecutor, table: TableNamer): Promise<void>;
  /**
   * True when `apply` gains from a memo outside a rebuild too: the live runner then keeps
   * one for it between batches (ProjectionRunner).
   */
  readonly remembersRows?: boolean;
  /**
   * `memo`: rows the projection wrote earlier by the same writer, by key. It is given by a
   * rebuild, the only writer of its new tables, and by the live runner to projections that
   * remember rows, the only writer of the live tables while it holds the group's lease. A
   * row kept there is what the table holds and need not be read again (usage_daily keeps a
   * filter of the cells it wrote instead, and COPYs the ones it surely never did). The writer
   * may clear it at any time, and does whenever that may no longer hold.
   */
  apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer, memo?: RowMemo): Promise<void>;
}

export type RowMemo = Map<string, unknown>;

/**
 * What the table holds for each of `keys`: the rows a rebuild remembers, and for the rest
 * (all of them outside a rebuild) what `readMissing` reads. Keys with no row are left out.
 */
export const knownRows = async <Row>(
  memo: RowMemo | undefined,
  keys: Iterable<string>,
  readMissing: (keys: readonly string[]) => Promise<ReadonlyMap<string, Row>>,
): Promise<Map<string, Row>> => {
  const known = new Map<string, Row>();
  const missing: string[] = [];
  for (const key of keys) {
    const row = memo?.get(key) as Row | undefined;
    if (row === undefined) missing.push(key);
    else known.set(key, row);
  }
  if (missing.length > 0) for (const [key, row] of await readMissing(missing)) known.set(key, row);
  return known;
};

export type TableNamer = (base: string) => string;

export const liveTables: TableNamer = (base) => base;
export const REBUILD_SUFFIX = '__rebuild';
export const rebuildTables: TableNamer = (base) => `${base}${REBUILD_SUFFIX}`;
