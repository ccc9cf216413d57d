import { Client } from 'pg';
import type { EventStore, RecordedEvent } from '../../../src/application/event-store.port';
import { encodeAccountEvent } from '../../../src/application/accounts/account-event-codec';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store';
import { EXPECT_NO_STREAM } from '../../../src/infrastructure/event-store/postgres-event-store.schema';
import { PgSqlClient, type SqlClient, type SqlExecutor } from '../../../src/infrastructure/postgres/sql-client';
import { readCheckpoint } from '../../../src/projections/checkpoints';
import type { Projection } from '../../../src/projections/projection';
import { ProjectionRunner, projectionLockKey, type RunnerOptions } from '../../../src/projections/projection-runner';
import { PROJECTIONS } from '../../../src/projections/projections.registry';
import { transactionsProjection } from '../../../src/projections/transactions.projection';
import { usageDailyProjection } from '../../../src/projections/usage-daily.projection';
import { testDatabaseTargets, type TestDatabase } from '../../support/databases';
import { compareWithReplay, eventually, lastLogPosition, rowCount, waitForCheckpoints } from '../../support/read-models';
import { accountHistory, appendHistory, historyTotals, type AccountHistory, isHistoryEntry } from './account-history';

const BATCH_SIZE = 7;
const CRASHING_BATCH = 3;

class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

/** A runner with its own record of what it committed and what went wrong. */
interface WatchedRunner {
  readonly runner: ProjectionRunner;
  /** The runner's only projection (these tests mostly run one per runner). */
  readonly projection: Projection;
  /** Batches that reached the moment before commit and were let through. */
  readonly batches: RecordedEvent[][];
  readonly errors: unknown[];
  /** Calls of the before-commit hook, including those it failed. */
  calls(): number;
}

const watchedRunner = (
  sql: SqlClient,
  store: EventStore,
  projection: Projection,
  crash: number | { readonly only: number } | null = null,
  group: readonly Projection[] = [projection],
): WatchedRunner => {
  const batches: RecordedEvent[][] = [];
  const errors: unknown[] = [];
  let calls = 0;
  const options: RunnerOptions = {
    batchSize: BATCH_SIZE,
    standbyRetryMs: 20,
    failureBackoffMs: 20,
    onError: (_name, error) => errors.push(error),
    faults: {
      beforeCommit: (batch) => {
        calls += 1;
        // A number: from that batch on this runner dies between applying a batch and committing it,
        // every time. `only`: that batch fails once, and the runner goes on by itself.
        const crashes = crash !== null && (typeof crash === 'number' ? calls >= crash : calls === crash.only);
        if (crashes) throw new InjectedCrash(`${group.map((member) => member.name).join(',')}: crash before committing batch ${calls}`);
        batches.push([...batch]);
      },
    },
  };
  return { runner: new ProjectionRunner(sql, store, group, options), projection, batches, errors, calls: () => calls };
};

const positionsOf = (batches: readonly (readonly RecordedEvent[])[]): bigint[] => batches.flat().map((event) => event.position);

const isStrictlyIncreasing = (values: readonly bigint[]): boolean => values.every((value, index) => index === 0 || (values[index - 1] ?? value) < value);

const usageSums = async (sql: SqlExecutor, table = 'usage_daily') => {
  const [row] = await sql.query<{ credits: string; quantity: string }>(
    `SELECT coalesce(sum(credits), 0)::text AS credits, coalesce(sum(quantity), 0)::text AS quantity FROM ${table}`,
  );
  return { chargedMillicredits: Number(row?.credits), quantity: Number(row?.quantity) };
};

/** Every live table of `projections` equals a from-scratch replay, row for row. */
const expectSameAsReplay = async (sql: SqlClient, store: EventStore, projections: readonly Projection[]) => {
  const comparisons = [];
  for (const projection of projections) comparisons.push(...(await compareWithReplay(sql, store, projection)));
  // All tables at once, so a failure names every table that differs.
  expect(comparisons.map(({ table, live }) => ({ table, hash: live }))).toEqual(comparisons.map(({ table, replayed }) => ({ table, hash: replayed })));
  for (const comparison of comparisons) expect(comparison.rows).toBeGreaterThan(0);
};

/** The read models add up to the history: each event applied once, none lost. */
const expectTotalsOf = async (sql: SqlExecutor, history: AccountHistory) => {
  const totals = historyTotals(history.events);
  expect(await rowCount(sql, 'transactions')).toBe(totals.events);
  expect(await usageSums(sql)).toEqual({ chargedMillicredits: totals.chargedMillicredits, quantity: totals.quantity });
  expect(await rowCount(sql, 'purchases')).toBe(totals.purchases);
  const balances = await sql.query<{
    account_id: string;
    balance: string;
    reserved: string;
    total_purchased: string;
    total_granted: string;
    total_used: string;
    lots: Array<{ lotId: string; remainingMillicredits: number; expiresAt: string | null }>;
  }>(
    `SELECT account_id, balance::text, reserved::text, total_purchased::text, total_granted::text, total_used::text, lots
       FROM balances ORDER BY account_id`,
  );
  const expected = [...history.states].sort(([a], [b]) => (a < b ? -1 : 1));
  // Every figure and every lot (what is left of it, in burn order) is what the domain folded.
  expect(
    balances.map((row) => ({
      accountId: row.account_id,
      figures: [row.balance, row.reserved, row.total_purchased, row.total_granted, row.total_used].map(Number),
      lots: row.lots.map((lot) => [lot.lotId, lot.remainingMillicredits, lot.expiresAt]),
    })),
  ).toEqual(
    expected.map(([accountId, state]) => ({
      accountId,
      figures: [
        state.balanceMillicredits,
        state.reservedMillicredits,
        state.totalPurchasedMillicredits,
        state.totalGrantedMillicredits,
        state.totalUsedMillicredits,
      ],
      lots: state.lots.map((lot) => [lot.lotId, lot.remainingMillicredits, lot.expiresAt]),
    })),
  );
  // Each account's newest history entry shows the balance the write side folded.
  const newest = await sql.query<{ account_id: string; revision: string; balance_after: string }>(
    `SELECT DISTINCT ON (account_id) account_id, stream_revision::text AS revision, balance_after::text AS balance_after
       FROM transactions ORDER BY account_id, transactions.stream_revision DESC`,
  );
  expect(newest.map((row) => [row.account_id, Number(row.revision), Number(row.balance_after)])).toEqual(
    expected.map(([accountId, state]) => [accountId, eventsOf(history, accountId) - 1, state.balanceMillicredits]),
  );
};

const eventsOf = (history: AccountHistory, accountId: string): number =>
  history.events.filter((event) => event.data.accountId === accountId).length;

const history = (seed: number, commands: number, accountIds = ['acme', 'globex', 'initech', 'umbrella', 'hooli']) =>
  accountHistory({ accountIds, commands, seed, startAt: '2025-03-01T20:00:00.000Z', stepMs: 17 * 60 * 1000 });

describe.each(testDatabaseTargets())('projection runner on %s', (name, makeDatabase) => {
  // PGlite is one process's embedded database: its advisory locks are per process and a
  // second connection cannot hold a transaction open, so those tests need a real server.
  const onServer = name === 'postgres';
  const itOnServer = onServer ? it : it.skip;
  let database: TestDatabase;
  let store: PostgresEventStore;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    database = await makeDatabase();
    store = await PostgresEventStore.open(database.client, { pollIntervalMs: 10 });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await store.close();
    await database.drop();
  });

  const stopAll = async (runners: readonly WatchedRunner[]) => Promise.all(runners.map(({ runner }) => runner.stop()));

  it('dies between applying a batch and committing it; after a restart every event is applied exactly once', async () => {
    const sql = database.client;
    const recorded = history(1, 160);
    await appendHistory(store, recorded.appends);
    const head = await lastLogPosition(sql);
    expect(recorded.events.length).toBeGreaterThan(CRASHING_BATCH * BATCH_SIZE * 3);

    const crashing = PROJECTIONS.map((projection) => watchedRunner(sql, store, projection, CRASHING_BATCH));
    cleanups.push(async () => void (await stopAll(crashing)));
    for (const { runner } of crashing) await runner.start();
    await eventually('every crashing runner to fail its third batch', () => crashing.every((watched) => watched.errors.length > 0));
    await stopAll(crashing);

    for (const watched of crashing) {
      const name = watched.projection.name;
      expect(watched.errors.every((error) => error instanceof InjectedCrash)).toBe(true);
      // Two batches committed, bounded in size and in log order; the third never did.
      expect(watched.batches).toHaveLength(CRASHING_BATCH - 1);
      expect(watched.batches.every((batch) => batch.length > 0 && batch.length <= BATCH_SIZE)).toBe(true);
      expect(isStrictlyIncreasing(positionsOf(watched.batches))).toBe(true);
      expect(await readCheckpoint(sql, name)).toBe(positionsOf(watched.batches).at(-1));
    }
    // The rolled-back batch left no rows: the transactions table holds exactly the two committed batches.
    const committedTransactions = crashing.find((watched) => watched.projection === transactionsProjection);
    expect(await rowCount(sql, 'transactions')).toBe(committedTransactions?.batches.flat().filter((event) => isHistoryEntry(event.type)).length);

    const restarted = PROJECTIONS.map((projection) => watchedRunner(sql, store, projection));
    cleanups.push(async () => void (await stopAll(restarted)));
    for (const { runner } of restarted) await runner.start();
    await waitForCheckpoints(sql, PROJECTIONS.map((projection) => projection.name), head);
    await stopAll(restarted);

    const log = positionsOf([await store.readAll(null, 10_000)]);
    for (const [index, watched] of restarted.entries()) {
      expect(watched.errors).toEqual([]);
      // The restart picks up right after the last committed batch and goes on in log order to the end.
      expect([...positionsOf(crashing[index]?.batches ?? []), ...positionsOf(watched.batches)]).toEqual(log);
    }
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  it('runs every projection from one read of the log: a crash before commit leaves nothing, a restart applies each event once', async () => {
    const sql = database.client;
    const recorded = history(6, 160);
    await appendHistory(store, recorded.appends);
    const head = await lastLogPosition(sql);
    const names = PROJECTIONS.map((projection) => projection.name);

    const crashing = watchedRunner(sql, store, transactionsProjection, CRASHING_BATCH, PROJECTIONS);
    cleanups.push(async () => void (await crashing.runner.stop()));
    await crashing.runner.start();
    await eventually('the group to fail its third batch', () => crashing.errors.length > 0);
    await crashing.runner.stop();
    expect(crashing.errors.every((error) => error instanceof InjectedCrash)).toBe(true);
    expect(crashing.batches).toHaveLength(CRASHING_BATCH - 1);
    // Every projection's checkpoint moved with the group's committed batches, and no further.
    const committed = positionsOf(crashing.batches).at(-1);
    for (const name of names) expect(await readCheckpoint(sql, name)).toBe(committed);
    expect(await rowCount(sql, 'transactions')).toBe(crashing.batches.flat().filter((event) => isHistoryEntry(event.type)).length);

    const restarted = watchedRunner(sql, store, transactionsProjection, null, PROJECTIONS);
    cleanups.push(async () => void (await restarted.runner.stop()));
    await restarted.runner.start();
    await waitForCheckpoints(sql, names, head);
    await restarted.runner.stop();
    expect(restarted.errors).toEqual([]);
    expect([...positionsOf(crashing.batches), ...positionsOf(restarted.batches)]).toEqual(positionsOf([await store.readAll(null, 10_000)]));
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  it('retries a batch that failed once from the tables, not from the rows it remembered while applying it', async () => {
    const sql = database.client;
    const recorded = history(6, 160);
    await appendHistory(store, recorded.appends);
    const head = await lastLogPosition(sql);
    // The same runner, never restarted: its third batch fails once after every projection applied
    // it (balances and transactions remembering its rows), then the runner goes on by itself.
    const group = watchedRunner(sql, store, transactionsProjection, { only: CRASHING_BATCH }, PROJECTIONS);
    cleanups.push(async () => void (await group.runner.stop()));
    await group.runner.start();
    await waitForCheckpoints(sql, PROJECTIONS.map((projection) => projection.name), head);
    await group.runner.stop();
    expect(group.errors).toHaveLength(1);
    expect(group.errors[0]).toBeInstanceOf(InjectedCrash);
    expect(PROJECTIONS.filter((projection) => projection.remembersRows === true).map((projection) => projection.name)).toEqual(['balances', 'transactions']);
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  itOnServer('forgets what it remembered when a checkpoint moves under it, as a rebuild swapping in new tables does (real Postgres only)', async () => {
    const sql = database.client;
    const recorded = history(9, 150);
    const [first, second, third] = [recorded.appends.slice(0, 50), recorded.appends.slice(50, 100), recorded.appends.slice(100)];
    const names = PROJECTIONS.map((projection) => projection.name);
    await appendHistory(store, first);
    const group = watchedRunner(sql, store, transactionsProjection, null, PROJECTIONS);
    cleanups.push(async () => void (await group.runner.stop()));
    await group.runner.start();
    await waitForCheckpoints(sql, names, await lastLogPosition(sql));

    // Another session takes the checkpoints first (as a rebuild's swap does), so the runner
    // waits; meanwhile the second part is appended and written to the live tables by that
    // session, which moves every checkpoint past it before letting the runner on.
    await sql.transaction(async (tx) => {
      await tx.query('SELECT name FROM projection_checkpoints WHERE name = ANY($1::text[]) FOR UPDATE', [names]);
      const from = await lastLogPosition(sql);
      await appendHistory(store, second);
      const to = await lastLogPosition(sql);
      if (to === null) throw new Error('the log is empty');
      const swapped = (await store.readAll(from, 10_000)).filter((event) => event.position <= to);
      for (const projection of PROJECTIONS) await projection.apply(tx, swapped, (table) => table);
      await tx.query('UPDATE projection_checkpoints SET position = $1 WHERE name = ANY($2::text[])', [String(to), names]);
    });

    // Had the runner kept the rows it remembered from the first part, the third would be
    // applied on top of them and the second part's effects lost.
    await appendHistory(store, third);
    await waitForCheckpoints(sql, names, await lastLogPosition(sql));
    await group.runner.stop();
    expect(group.errors).toEqual([]);
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  it('runs each batch with generic plans and asynchronous commit, set for that transaction only', async () => {
    const sql = database.client;
    const recorded = history(2, 40);
    await appendHistory(store, recorded.appends);
    const head = await lastLogPosition(sql);
    type Settings = { plans: string; durability: string };
    const SETTINGS = `SELECT current_setting('plan_cache_mode') AS plans, current_setting('synchronous_commit') AS durability`;
    const seen: Settings[] = [];
    const probe: Projection = {
      name: 'settings_probe',
      tables: [],
      createTables: async () => undefined,
      createSecondaryIndexes: async () => undefined,
      apply: async (tx) => {
        const [row] = await tx.query<Settings>(SETTINGS);
        if (row !== undefined) seen.push(row);
      },
    };
    const settingsNow = () => Promise.all(Array.from({ length: 4 }, () => sql.query<Settings>(SETTINGS)));
    const before = (await settingsNow()).flat();
    expect(before.map((row) => row.durability)).toEqual(Array(4).fill('on'));
    expect(before.some((row) => row.plans === 'force_generic_plan')).toBe(false);
    const watched = watchedRunner(sql, store, probe);
    cleanups.push(async () => void (await watched.runner.stop()));
    await watched.runner.start();
    await waitForCheckpoints(sql, [probe.name], head);
    await watched.runner.stop();
    expect(watched.errors).toEqual([]);
    expect(seen.length).toBe(watched.batches.length);
    expect(seen.length).toBeGreaterThan(1);
    expect(new Set(seen.map((row) => `${row.plans}/${row.durability}`))).toEqual(new Set(['force_generic_plan/off']));
    // Local to the batch's transaction: the pool's sessions keep their own settings.
    expect((await settingsNow()).flat()).toEqual(before);
  });

  it('respects a checkpoint another process moved ahead: that projection skips what it already holds', async () => {
    const sql = database.client;
    const recorded = history(7, 120);
    await appendHistory(store, recorded.appends);
    const head = await lastLogPosition(sql);
    const log = await store.readAll(null, 10_000);
    const names = PROJECTIONS.map((projection) => projection.name);
    // Another process (a rebuild's swap) left usage_daily at the middle of the log, its rows up to there included.
    const middle = log[Math.floor(log.length / 2)]?.position ?? 0n;
    const first = watchedRunner(sql, store, usageDailyProjection);
    cleanups.push(async () => void (await first.runner.stop()));
    await first.runner.start();
    await waitForCheckpoints(sql, ['usage_daily'], head);
    await first.runner.stop();
    await sql.query('DELETE FROM usage_daily');
    await store.readAll(null, 10_000).then((events) => usageDailyProjection.apply(sql, events.filter((event) => event.position <= middle), (table) => table));
    await sql.query('UPDATE projection_checkpoints SET position = $1 WHERE name = $2', [String(middle), 'usage_daily']);
    await sql.query('UPDATE projection_checkpoints SET position = NULL WHERE name <> $1', ['usage_daily']);

    const group = watchedRunner(sql, store, transactionsProjection, null, PROJECTIONS);
    cleanups.push(async () => void (await group.runner.stop()));
    await group.runner.start();
    await waitForCheckpoints(sql, names, head);
    await group.runner.stop();
    expect(group.errors).toEqual([]);
    // usage_daily was given only the second half: its sums are the whole history's, counted once.
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  it('starts over when a checkpoint is moved back by hand, writing nothing twice for the others', async () => {
    const sql = database.client;
    const recorded = history(1, 160);
    const [early, late] = [recorded.appends.slice(0, 60), recorded.appends.slice(60)];
    await appendHistory(store, early);
    const names = PROJECTIONS.map((projection) => projection.name);
    const group = watchedRunner(sql, store, transactionsProjection, null, PROJECTIONS);
    cleanups.push(async () => void (await group.runner.stop()));
    await group.runner.start();
    await waitForCheckpoints(sql, names, await lastLogPosition(sql));

    // An operator empties purchases and resets its checkpoint, the runner still going. usage_daily
    // comes before it in the group and adds up what it is given: the next batch must not write it
    // and then give up without moving its checkpoint (the sums would count that batch twice).
    expect(names.indexOf('usage_daily')).toBeLessThan(names.indexOf('purchases'));
    expect(await rowCount(sql, 'purchases')).toBeGreaterThan(0);
    await sql.query('DELETE FROM purchases');
    await sql.query('UPDATE projection_checkpoints SET position = NULL WHERE name = $1', ['purchases']);
    await appendHistory(store, late);
    await waitForCheckpoints(sql, names, await lastLogPosition(sql));
    await group.runner.stop();

    expect(group.errors).toEqual([]);
    await expectTotalsOf(sql, recorded);
    await expectSameAsReplay(sql, store, PROJECTIONS);
  });

  itOnServer('lets one of two runners started together apply, and hands over when it stops (real Postgres only: PGlite locks are per process)', async () => {
    const recorded = history(2, 150);
    const [early, late] = [recorded.appends.slice(0, 60), recorded.appends.slice(60)];
    expect(late.length).toBeGreaterThan(10);
    await appendHistory(store, early);

    // The second "instance" has its own connections and its own store, as another process would.
    const otherSql = PgSqlClient.connect(database.url ?? '', 5);
    const otherStore = await PostgresEventStore.open(otherSql, { pollIntervalMs: 10 });
    cleanups.push(async () => {
      await otherStore.close();
      await otherSql.close();
    });
    const projections = [usageDailyProjection, transactionsProjection];
    const pairs = projections.map((projection) => [
      watchedRunner(database.client, store, projection),
      watchedRunner(otherSql, otherStore, projection),
    ] as const);
    const all = pairs.flat();
    cleanups.push(async () => void (await stopAll(all)));
    await Promise.all(all.map(({ runner }) => runner.start()));
    const names = projections.map((projection) => projection.name);
    await waitForCheckpoints(database.client, names, await lastLogPosition(database.client));

    const holders = async (projection: Projection) => {
      const [row] = await database.client.query<{ count: string }>(
        `SELECT count(*)::text AS count FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = 0 AND objid::bigint = $1 AND objsubid = 1`,
        [projectionLockKey(projection.name)],
      );
      return Number(row?.count);
    };
    const actives = pairs.map((pair) => {
      const applying = pair.filter((watched) => watched.calls() > 0);
      if (applying.length !== 1) {
        throw new Error(`expected one applying runner: ${JSON.stringify(pair.map((w) => ({ calls: w.calls(), errors: w.errors.map(String) })))}`);
      }
      return applying[0] as WatchedRunner;
    });
    for (const projection of projections) expect(await holders(projection)).toBe(1);

    const halfway = Math.floor(late.length / 2);
    await appendHistory(store, late.slice(0, halfway));
    await waitForCheckpoints(database.client, names, await lastLogPosition(database.client));
    for (const [index, pair] of pairs.entries()) {
      const standby = pair.find((watched) => watched !== actives[index]);
      expect(standby?.calls()).toBe(0);
    }

    await Promise.all(actives.map(({ runner }) => runner.stop()));
    const callsWhenStopped = actives.map((active) => active.calls());
    await appendHistory(store, late.slice(halfway));
    await waitForCheckpoints(database.client, names, await lastLogPosition(database.client));

    const log = positionsOf([await store.readAll(null, 10_000)]);
    for (const [index, pair] of pairs.entries()) {
      const active = actives[index] as WatchedRunner;
      const standby = pair.find((watched) => watched !== active) as WatchedRunner;
      expect(active.calls()).toBe(callsWhenStopped[index]);
      expect(standby.calls()).toBeGreaterThan(0);
      expect([...active.errors, ...standby.errors]).toEqual([]);
      // Together they applied the log once, in order: the standby started where the active one stopped.
      expect([...positionsOf(active.batches), ...positionsOf(standby.batches)]).toEqual(log);
    }
    await expectSameAsReplay(database.client, store, projections);
    const totals = historyTotals(recorded.events);
    expect(await rowCount(database.client, 'transactions')).toBe(totals.events);
    expect(await usageSums(database.client)).toEqual({ chargedMillicredits: totals.chargedMillicredits, quantity: totals.quantity });
  });

  itOnServer('takes the lock again when the active runner\'s lock connection dies, applying nothing twice (real Postgres only)', async () => {
    const recorded = history(5, 150);
    await appendHistory(store, recorded.appends.slice(0, 40));
    const otherSql = PgSqlClient.connect(database.url ?? '', 5);
    const otherStore = await PostgresEventStore.open(otherSql, { pollIntervalMs: 10 });
    cleanups.push(async () => {
      await otherStore.close();
      await otherSql.close();
    });
    const projections = [usageDailyProjection, transactionsProjection];
    const runners = projections.flatMap((projection) => [
      watchedRunner(database.client, store, projection),
      watchedRunner(otherSql, otherStore, projection),
    ]);
    cleanups.push(async () => void (await stopAll(runners)));
    await Promise.all(runners.map(({ runner }) => runner.start()));
    const names = projections.map((projection) => projection.name);
    await waitForCheckpoints(database.client, names, await lastLogPosition(database.client));

    const holderOf = async (projection: Projection): Promise<readonly number[]> =>
      (
        await database.client.query<{ pid: number }>(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = 0 AND objid::bigint = $1 AND objsubid = 1`,
          [projectionLockKey(projection.name)],
        )
      ).map((row) => row.pid);
    const killed = await Promise.all(projections.map(holderOf));
    expect(killed.map((pids) => pids.length)).toEqual([1, 1]);
    // The lock holders' connections die (a crashed host, a failover) while events keep arriving.
    const appending = appendHistory(store, recorded.appends.slice(40));
    await database.client.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [killed.flat()]);
    await appending;
    await eventually('another session to hold each projection lock', async () => {
      const now = await Promise.all(projections.map(holderOf));
      return now.every((pids, index) => pids.length === 1 && pids[0] !== killed[index]?.[0]);
    });
    await waitForCheckpoints(database.client, names, await lastLogPosition(database.client));

    const log = positionsOf([await store.readAll(null, 10_000)]);
    for (const projection of projections) {
      const applied = positionsOf(runners.filter((watched) => watched.projection === projection).flatMap((watched) => watched.batches));
      expect([...applied].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(log);
    }
    const totals = historyTotals(recorded.events);
    expect(await rowCount(database.client, 'transactions')).toBe(totals.events);
    expect(await usageSums(database.client)).toEqual({ chargedMillicredits: totals.chargedMillicredits, quantity: totals.quantity });
    await expectSameAsReplay(database.client, store, projections);
  });

  itOnServer("waits for a writer's open transaction, then applies everything in log order (real Postgres only: PGlite has one connection)", async () => {
    const recorded = history(3, 120);
    const [early, late] = [recorded.appends.slice(0, 40), recorded.appends.slice(40)];
    await appendHistory(store, early);
    const beforeGap = await lastLogPosition(database.client);

    // The runners read through their own store, as in another process: they learn of new
    // events only by reading the log, and every read is counted.
    let reads = 0;
    const runnerStore = await PostgresEventStore.open(countingSessions(database.client, () => (reads += 1)), { pollIntervalMs: 10 });
    cleanups.push(() => runnerStore.close());
    const runners = PROJECTIONS.map((projection) => watchedRunner(database.client, runnerStore, projection));
    cleanups.push(async () => void (await stopAll(runners)));
    for (const { runner } of runners) await runner.start();
    const names = PROJECTIONS.map((projection) => projection.name);
    await waitForCheckpoints(database.client, names, beforeGap);

    const slow = accountHistory({ accountIds: ['slow-writer'], commands: 4, seed: 4, startAt: '2025-03-02T08:00:00.000Z', stepMs: 60_000 });
    const slowEvents = slow.events.map((event) => encodeAccountEvent(event, `evt-${event.data.commandId}`));
    const slowWriter = new Client({ connectionString: database.url });
    await slowWriter.connect();
    cleanups.push(() => slowWriter.end());
    await slowWriter.query('BEGIN');
    const { rows } = await slowWriter.query<{ ok: boolean; last_position: string }>('SELECT * FROM ledger_append($1, $2, $3, $4, $5, $6)', [
      'credit-account-slow-writer',
      EXPECT_NO_STREAM,
      slowEvents.map((event) => event.eventId),
      slowEvents.map((event) => event.type),
      slowEvents.map((event) => JSON.stringify(event.data)),
      slowEvents.map((event) => JSON.stringify(event.metadata)),
    ]);
    expect(rows[0]?.ok).toBe(true);
    const openPosition = BigInt(rows[0]?.last_position ?? '0');

    const latePositions = await appendHistory(store, late);
    expect(latePositions[0]).toBeGreaterThan(openPosition);
    // Later appends have committed; let every runner read the log a good few times more.
    const readsAfterLate = reads;
    await eventually('the runners to poll the log again', () => reads >= readsAfterLate + 5 * PROJECTIONS.length);
    for (const name of names) expect(await readCheckpoint(database.client, name)).toBe(beforeGap);
    const [{ count } = { count: 'NaN' }] = await database.client.query<{ count: string }>(
      'SELECT count(*)::text AS count FROM transactions WHERE position > $1',
      [String(beforeGap)],
    );
    expect(Number(count)).toBe(0);

    await slowWriter.query('COMMIT');
    const head = await lastLogPosition(database.client);
    expect(head).toBe(latePositions.at(-1));
    await waitForCheckpoints(database.client, names, head);

    const log = await store.readAll(null, 10_000);
    for (const watched of runners) {
      expect(watched.errors).toEqual([]);
      // Nothing skipped, nothing out of order: the held events came before the later ones.
      expect(positionsOf(watched.batches)).toEqual(log.map((event) => event.position));
    }
    const byPosition = await database.client.query<{ account_id: string; revision: string; at: string }>(
      'SELECT account_id, stream_revision::text AS revision, position::text AS at FROM transactions ORDER BY transactions.position',
    );
    expect(byPosition.map((row) => [`credit-account-${row.account_id}`, Number(row.revision), BigInt(row.at)])).toEqual(
      log.filter((event) => isHistoryEntry(event.type)).map((event) => [event.streamId, event.streamRevision, event.position]),
    );
    expect(byPosition.filter((row) => row.account_id === 'slow-writer')).toHaveLength(slowEvents.filter((event) => isHistoryEntry(event.type)).length);
    await expectSameAsReplay(database.client, store, PROJECTIONS);
  });
});

/** The same client, counting each dedicated session it hands out (every read of the log takes one). */
const countingSessions = (inner: SqlClient, onSession: () => void): SqlClient => ({
  kind: inner.kind,
  query: <Row extends object>(text: string, params?: readonly unknown[]) => inner.query<Row>(text, params),
  execScript: (text) => inner.execScript(text),
  copyRows: (table, columns, rows) => inner.copyRows(table, columns, rows),
  transaction: (work) => inner.transaction(work),
  withSession: (work) => {
    onSession();
    return inner.withSession(work);
  },
  tryLock: (key) => inner.tryLock(key),
  close: async () => undefined,
});
