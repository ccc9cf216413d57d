import type { RecordedEvent } from '../../../src/application/event-store.port';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store';
import type { SqlClient, SqlExecutor } from '../../../src/infrastructure/postgres/sql-client';
import { readCheckpoint } from '../../../src/projections/checkpoints';
import { liveTables, type Projection, type RowMemo } from '../../../src/projections/projection';
import { PROJECTIONS } from '../../../src/projections/projections.registry';
import { rebuildProjections } from '../../../src/projections/rebuild';
import { transactionsProjection } from '../../../src/projections/transactions.projection';
import { usageDailyProjection } from '../../../src/projections/usage-daily.projection';
import { testDatabaseTargets, type TestDatabase } from '../../support/databases';
import { compareWithReplay, eventually, rowCount } from '../../support/read-models';
import { decide } from '../../../src/domain/account.decider';
import { accountStreamId } from '../../../src/domain/account.events';
import { initialAccountState } from '../../../src/domain/account.state';
import { expectedTables } from '../../support/read-models';
import { accountHistory, appendHistory } from './account-history';

const PAGE = 20;

class InjectedFailure extends Error {
  override readonly name = 'InjectedFailure';
}

/** The projection with `around` wrapped about each apply; it records the first position of every page it is given. */
const watched = (projection: Projection, around: (page: number, apply: () => Promise<void>) => Promise<void>) => {
  const pages: bigint[] = [];
  const wrapped: Projection = {
    ...projection,
    apply: (tx, events, table, memo) => {
      pages.push(events[0]?.position ?? -1n);
      return around(pages.length, () => projection.apply(tx, events, table, memo));
    },
  };
  return { projection: wrapped, pages };
};

/** The client, counting its transactions from the call until they have committed or rolled back. */
const countingTransactions = (sql: SqlClient) => {
  let open = 0;
  const client = new Proxy(sql, {
    get(target, key, receiver) {
      if (key === 'transaction') {
        return async <T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> => {
          open += 1;
          try {
            return await target.transaction(work);
          } finally {
            open -= 1;
          }
        };
      }
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { client, open: () => open };
};

/** Each index of a table as (primary, unique, definition after USING): index and table names left out. */
const indexesOf = async (sql: SqlExecutor, table: string): Promise<string[]> => {
  const rows = await sql.query<{ primary: boolean; unique: boolean; definition: string }>(
    `SELECT i.indisprimary AS primary, i.indisunique AS unique, regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') AS definition
       FROM pg_index i WHERE i.indrelid = $1::regclass`,
    [table],
  );
  return rows.map((row) => `${row.primary ? 'primary ' : ''}${row.unique ? 'unique ' : ''}${row.definition}`).sort();
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The first position of each page of the log, read as the rebuild reads it (a page never splits an append). */
const pageStarts = async (store: PostgresEventStore): Promise<bigint[]> => {
  const starts: bigint[] = [];
  for (let after: bigint | null = null; ; ) {
    const page: readonly RecordedEvent[] = await store.readAll(after, PAGE);
    const [first, last] = [page[0], page.at(-1)];
    if (first === undefined || last === undefined) return starts;
    starts.push(first.position);
    after = last.position;
  }
};

describe.each(testDatabaseTargets())('projection rebuild on %s', (name, makeDatabase) => {
  // PGlite runs one transaction at a time, so a projection held inside its page holds every other.
  const itOnServer = name === 'postgres' ? it : it.skip;
  let database: TestDatabase;
  let store: PostgresEventStore;

  beforeEach(async () => {
    database = await makeDatabase();
    store = await PostgresEventStore.open(database.client, { pollIntervalMs: 10 });
    const recorded = accountHistory({ accountIds: ['acme', 'globex', 'initech'], commands: 120, seed: 11, startAt: '2025-03-01T20:00:00.000Z', stepMs: 23 * 60 * 1000 });
    await appendHistory(store, recorded.appends);
  });

  afterEach(async () => {
    await store.close();
    await database.drop();
  });

  it('fails as a whole when one projection fails a page, only once no transaction of the others is left open; nothing is swapped in, and a rerun builds it all', async () => {
    const sql = database.client;
    const { client, open } = countingTransactions(sql);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const failing = watched(transactionsProjection, async (page, apply) => {
      if (page === 3) throw new InjectedFailure('transactions: page 3');
      await apply();
    });
    // usage_daily is held in its third page; the page after it is slow, so a rebuild that
    // failed without waiting for it would still have it open.
    const slow = watched(usageDailyProjection, async (page, apply) => {
      if (page >= 3) await released;
      if (page >= 4) await pause(30);
      await apply();
    });

    let settled = false;
    const rebuilt = rebuildProjections(client, store, [failing.projection, slow.projection], { batchSize: PAGE }).finally(() => (settled = true));
    rebuilt.catch(() => undefined); // awaited below
    await eventually('transactions to fail its third page', () => failing.pages.length === 3);
    await eventually('usage_daily to be held in its third page', () => slow.pages.length >= 3);
    await pause(50);
    expect(settled).toBe(false);
    release();
    await expect(rebuilt).rejects.toBeInstanceOf(InjectedFailure);
    expect(open()).toBe(0);
    expect(slow.pages.length).toBeGreaterThanOrEqual(4);
    for (const projection of [transactionsProjection, usageDailyProjection]) expect(await readCheckpoint(sql, projection.name)).toBeNull();
    expect(await rowCount(sql, 'transactions')).toBe(0);
    expect(await rowCount(sql, 'usage_daily')).toBe(0);

    const results = await rebuildProjections(sql, store, PROJECTIONS, { batchSize: PAGE });
    expect(results.map((result) => result.projection)).toEqual(PROJECTIONS.map((projection) => projection.name));
    for (const projection of PROJECTIONS) {
      for (const comparison of await compareWithReplay(sql, store, projection)) {
        expect({ table: comparison.table, hash: comparison.live }).toEqual({ table: comparison.table, hash: comparison.replayed });
      }
    }
    expect(await rowCount(sql, 'transactions')).toBeGreaterThan(0);
    expect(await rowCount(sql, 'usage_daily')).toBeGreaterThan(0);
  });

  it('writes text that COPY would misread (tab, newline, backslash, a literal \\N) as the live path does, and gives each table the indexes createTables makes', async () => {
    const sql = database.client;
    const reason = 'tab\there\nnew line\r\\back\\slash \\N ünïcödé';
    const decision = decide(
      {
        type: 'GrantCredits',
        accountId: 'escapes',
        commandId: 'escapes-grant',
        requestHash: 'hash-escapes-grant',
        now: '2025-03-09T12:00:00.000Z',
        grantId: 'grant-escapes',
        creditsMillicredits: 5_000,
        reason,
        expiresAt: null,
        grantedBy: 'ops-admin',
      },
      initialAccountState,
      { idempotencyRetentionMs: 24 * 60 * 60 * 1000 },
    );
    if (decision.status !== 'accepted') throw new Error(`grant not accepted: ${decision.status}`);
    await appendHistory(store, [{ accountId: 'escapes', streamId: accountStreamId('escapes'), expected: 'no_stream', events: decision.events }]);

    await rebuildProjections(sql, store, PROJECTIONS, { batchSize: PAGE });

    const [line] = await sql.query<{ description: string; service: string | null; quantity: string | null }>(
      "SELECT description, service, quantity::text AS quantity FROM transactions WHERE account_id = 'escapes'",
    );
    expect(line).toEqual({ description: reason, service: null, quantity: null });
    for (const projection of PROJECTIONS) {
      // The reference is built by the live path (no memo: INSERTs from JSON, indexes made with the table).
      for (const comparison of await compareWithReplay(sql, store, projection)) {
        expect({ table: comparison.table, hash: comparison.live }).toEqual({ table: comparison.table, hash: comparison.replayed });
        expect({ table: comparison.table, indexes: await indexesOf(sql, comparison.table) }).toEqual({
          table: comparison.table,
          indexes: await indexesOf(sql, expectedTables(comparison.table)),
        });
      }
    }
    // Deferred, not dropped: the transactions table has its two secondary indexes besides the key.
    expect(await indexesOf(sql, 'transactions')).toHaveLength(3);
  });

  itOnServer('lets a projection apply the next page while another is still in this one, never further ahead, each in log order', async () => {
    const sql = database.client;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let slowApplied = 0;
    const slow = watched(usageDailyProjection, async (page, apply) => {
      if (page === 1) await held;
      await apply();
      slowApplied += 1;
    });
    // How far ahead of the slow projection's applied pages each of the fast one's pages started.
    const leads: number[] = [];
    const fast = watched(transactionsProjection, (page, apply) => {
      leads.push(page - slowApplied);
      return apply();
    });

    const rebuilt = rebuildProjections(sql, store, [slow.projection, fast.projection], { batchSize: PAGE });
    await eventually('the fast projection to reach the second page', () => fast.pages.length === 2);
    // It stays there: a third page would be two ahead of the held one.
    await pause(100);
    expect(fast.pages).toHaveLength(2);
    expect(slow.pages).toHaveLength(1);
    release();
    await rebuilt;

    const everyPage = await pageStarts(store);
    expect(everyPage.length).toBeGreaterThan(3);
    expect(slow.pages).toEqual(everyPage);
    expect(fast.pages).toEqual(everyPage);
    // Page k starts only once every projection has committed page k - 2.
    expect(Math.max(...leads)).toBeLessThanOrEqual(2);
    for (const projection of [usageDailyProjection, transactionsProjection]) {
      for (const comparison of await compareWithReplay(sql, store, projection)) {
        expect({ table: comparison.table, hash: comparison.live }).toEqual({ table: comparison.table, hash: comparison.replayed });
      }
    }
  });

  describe('usage_daily given a memo', () => {
    /** The projection, with the rows each of its apply calls COPYed, by table. */
    const copying = () => {
      const copied = new Map<string, number>();
      const projection: Projection = {
        ...usageDailyProjection,
        apply: (tx, events, table, memo) => {
          const recording: SqlExecutor = {
            query: (text, params) => tx.query(text, params),
            execScript: (text) => tx.execScript(text),
            copyRows: (into, columns, rows) => {
              copied.set(into, (copied.get(into) ?? 0) + rows.length);
              return tx.copyRows(into, columns, rows);
            },
          };
          return usageDailyProjection.apply(recording, events, table, memo);
        },
      };
      return { projection, copied };
    };

    it('in a rebuild, COPYs each cell into the new table the first time it sees it and adds to it every time after; the table is what a replay makes', async () => {
      const sql = database.client;
      const { projection, copied } = copying();

      await rebuildProjections(sql, store, [projection], { batchSize: PAGE });

      // Every cell went in by COPY exactly once, on its first page, and the history has cells
      // that later pages added to (through the scratch table and an upsert).
      expect(copied.get('usage_daily__rebuild')).toBe(await rowCount(sql, 'usage_daily'));
      expect(copied.get('usage_daily_rebuild_deltas') ?? 0).toBeGreaterThan(0);
      for (const comparison of await compareWithReplay(sql, store, usageDailyProjection)) {
        expect({ table: comparison.table, hash: comparison.live }).toEqual({ table: comparison.table, hash: comparison.replayed });
      }
    });

    it('adds every cell to what is there when its table already held rows as the memo began', async () => {
      const sql = database.client;
      const { projection, copied } = copying();
      await sql.transaction((tx) => usageDailyProjection.createTables(tx, liveTables));
      const pages: (readonly RecordedEvent[])[] = [];
      for (let after: bigint | null = null; ; ) {
        const page: readonly RecordedEvent[] = await store.readAll(after, PAGE);
        const last = page.at(-1);
        if (last === undefined) break;
        pages.push(page);
        after = last.position;
      }
      const [first, ...rest] = pages;
      if (first === undefined || rest.length === 0) throw new Error('the history fits one page');

      // The first page by the live path (no memo), the rest with one memo, as a writer that began later would.
      await sql.transaction((tx) => usageDailyProjection.apply(tx, first, liveTables));
      const memo: RowMemo = new Map();
      for (const page of rest) await sql.transaction((tx) => projection.apply(tx, page, liveTables, memo));

      expect(copied.get('usage_daily')).toBeUndefined();
      expect(copied.get('usage_daily_rebuild_deltas') ?? 0).toBeGreaterThan(0);
      for (const comparison of await compareWithReplay(sql, store, usageDailyProjection)) {
        expect({ table: comparison.table, hash: comparison.live }).toEqual({ table: comparison.table, hash: comparison.replayed });
      }
    });
  });
});
