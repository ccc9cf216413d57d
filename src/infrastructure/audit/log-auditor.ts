import { decodeAccountEvent, positionNumber } from '../../application/accounts/account-event-codec';
import { ChainVerifier, type ChainProblem } from '../../application/accounts/event-chain';
import type { EventStore, RecordedEvent } from '../../application/event-store.port';
import { ACCOUNT_STREAM_PREFIX } from '../../domain/account.events';
import { fold, initialAccountState, type AccountState } from '../../domain/account.state';
import { formatCredits } from '../../domain/money';
import { readCheckpoint } from '../../projections/checkpoints';
import type { Projection, TableNamer } from '../../projections/projection';
import { identifier } from '../../projections/sql-helpers';
import { DEFAULT_REBUILD_BATCH_SIZE } from '../../projections/rebuild';
import type { SqlClient, SqlExecutor } from '../postgres/sql-client';

/**
 * `ledger audit verify`: reads the whole log once, in order, and checks
 *  1. every stream's hash chain (event-chain.ts): a changed, removed or reordered event;
 *  2. every account's balance replayed by the domain against the balances projection
 *     replayed from the same events: the two independent folds must agree;
 *  3. every audited read model against a fresh replay of it: each projection is rebuilt
 *     into side tables up to the live model's checkpoint, and the two are compared
 *     row by row while that checkpoint is held still. A row edited by hand, or one the
 *     live projection got wrong, shows up as a difference.
 * The expiry schedule and the alert outbox are left out: their schedulers delete and
 * mark rows outside the projection by design.
 */
export const AUDITED_PROJECTIONS = ['balances', 'transactions', 'usage_daily', 'purchases'] as const;

export interface AuditProblem {
  readonly check: 'chain' | 'replay' | 'read_model';
  readonly account: string | null;
  readonly position: bigint | null;
  readonly subject: string;
  readonly stored: string;
  readonly recomputed: string;
}

export interface AuditProgress {
  readonly phase: 'log' | 'read models';
  readonly eventsChecked: number;
  readonly position: bigint | null;
  readonly head: bigint | null;
}

export interface AuditReport {
  readonly eventsChecked: number;
  readonly streams: number;
  readonly accounts: number;
  readonly readModelsCompared: readonly string[];
  /** Read models that kept moving and could not be held still to compare. */
  readonly readModelsNotCompared: readonly string[];
  readonly problems: readonly AuditProblem[];
}

export interface AuditOptions {
  readonly projections: readonly Projection[];
  readonly batchSize?: number;
  /** Most differences reported per read model. */
  readonly maxDifferences?: number;
  readonly onProgress?: (progress: AuditProgress) => void;
  readonly onProblem?: (problem: AuditProblem) => void;
}

const AUDIT_SUFFIX = '__audit';
const auditTables: TableNamer = (base) => `${base}${AUDIT_SUFFIX}`;
const MAX_HOLD_ATTEMPTS = 20;

/** The fields of a balances row that the domain's own fold must reproduce. */
interface BalanceSummary {
  readonly balance: number;
  readonly reserved: number;
  readonly total_purchased: number;
  readonly total_granted: number;
  readonly total_used: number;
  readonly low_balance_threshold: number;
  readonly last_revision: number;
  readonly last_position: number;
}

const summaryOf = (state: AccountState, revision: number, position: number): BalanceSummary => ({
  balance: state.balanceMillicredits,
  reserved: state.reservedMillicredits,
  total_purchased: state.totalPurchasedMillicredits,
  total_granted: state.totalGrantedMillicredits,
  total_used: state.totalUsedMillicredits,
  low_balance_threshold: state.lowBalanceThresholdMillicredits,
  last_revision: revision,
  last_position: position,
});

const MONEY_COLUMNS = new Set(['balance', 'reserved', 'total_purchased', 'total_granted', 'total_used', 'low_balance_threshold', 'credits', 'balance_after']);
const show = (column: string, value: unknown): string =>
  value === undefined ? 'missing' : MONEY_COLUMNS.has(column) && value !== null ? formatCredits(Number(value)) : JSON.stringify(value);

export const auditLog = async (sql: SqlClient, store: EventStore, options: AuditOptions): Promise<AuditReport> => {
  const batchSize = options.batchSize ?? DEFAULT_REBUILD_BATCH_SIZE;
  const problems: AuditProblem[] = [];
  const report = (problem: AuditProblem) => {
    problems.push(problem);
    options.onProblem?.(problem);
  };
  const projections = options.projections.filter((projection) => (AUDITED_PROJECTIONS as readonly string[]).includes(projection.name));

  await sql.transaction(async (tx) => {
    for (const projection of projections) {
      for (const table of projection.tables) await tx.query(`DROP TABLE IF EXISTS ${identifier(auditTables(table))}`);
      await projection.createTables(tx, auditTables);
    }
  });
  const rebuilt = new Map<string, bigint | null>(projections.map((projection) => [projection.name, null]));
  const targets = new Map<string, bigint | null>();
  for (const projection of projections) targets.set(projection.name, await readCheckpoint(sql, projection.name));
  const balancesTarget = targets.get('balances') ?? null;

  const applyUpTo = async (projection: Projection, events: readonly RecordedEvent[], target: bigint | null): Promise<void> => {
    const from = rebuilt.get(projection.name) ?? null;
    const slice = events.filter((event) => (from === null || event.position > from) && target !== null && event.position <= target);
    const last = slice.at(-1);
    if (last === undefined) return;
    await sql.transaction((tx) => projection.apply(tx, slice, auditTables));
    rebuilt.set(projection.name, last.position);
  };

  // 1 and 2: one pass over the whole log.
  const chains = new ChainVerifier();
  const accounts = new Map<string, AccountState>();
  const replayed = new Map<string, BalanceSummary>();
  const foldOptions = { idempotencyRetentionMs: 0 };
  const head = await store.headPosition();
  let position: bigint | null = null;
  let eventsChecked = 0;
  for (;;) {
    const batch = await store.readAll(position, batchSize);
    const last = batch.at(-1);
    if (last === undefined) break;
    for (const event of batch) {
      for (const problem of chains.check(event)) report(chainProblem(problem));
      if (!event.streamId.startsWith(ACCOUNT_STREAM_PREFIX)) continue;
      const account = event.streamId.slice(ACCOUNT_STREAM_PREFIX.length);
      const state = replayEvent(accounts.get(account) ?? initialAccountState, event, foldOptions, (message) =>
        report({ check: 'replay', account, position: event.position, subject: `event at revision ${event.streamRevision} cannot be applied`, stored: message, recomputed: 'an applicable event' }),
      );
      accounts.set(account, state);
      if (balancesTarget !== null && event.position <= balancesTarget) {
        replayed.set(account, summaryOf(state, event.streamRevision, positionNumber(event.position)));
      }
    }
    for (const projection of projections) await applyUpTo(projection, batch, targets.get(projection.name) ?? null);
    eventsChecked += batch.length;
    position = last.position;
    options.onProgress?.({ phase: 'log', eventsChecked, position, head });
  }

  const balances = projections.find((projection) => projection.name === 'balances');
  if (balances !== undefined) await compareReplayWithBalances(sql, replayed, report);

  // 3: each audited read model against its replay, at the same checkpoint.
  const compared: string[] = [];
  const notCompared: string[] = [];
  for (const projection of projections) {
    options.onProgress?.({ phase: 'read models', eventsChecked, position, head });
    const held = await holdAndCompare(sql, store, projection, rebuilt, applyUpTo, batchSize, options.maxDifferences ?? 20, report);
    (held ? compared : notCompared).push(projection.name);
  }
  await sql.transaction(async (tx) => {
    for (const projection of projections) {
      for (const table of projection.tables) await tx.query(`DROP TABLE IF EXISTS ${identifier(auditTables(table))}`);
    }
  });
  return { eventsChecked, streams: chains.streams, accounts: accounts.size, readModelsCompared: compared, readModelsNotCompared: notCompared, problems };
};

/** A tampered event may break the domain's own invariants: report it and carry on without it. */
const replayEvent = (state: AccountState, event: RecordedEvent, options: { idempotencyRetentionMs: number }, onError: (message: string) => void): AccountState => {
  try {
    return fold(state, [{ event: decodeAccountEvent(event), position: positionNumber(event.position) }], options);
  } catch (error) {
    onError(error instanceof Error ? error.message : String(error));
    return state;
  }
};

const chainProblem = (problem: ChainProblem): AuditProblem => ({
  check: 'chain',
  account: problem.streamId.startsWith(ACCOUNT_STREAM_PREFIX) ? problem.streamId.slice(ACCOUNT_STREAM_PREFIX.length) : null,
  position: problem.position,
  subject: `${problem.kind} at revision ${problem.streamRevision} of ${problem.streamId}`,
  stored: problem.actual,
  recomputed: problem.expected,
});

/** The domain's fold of every account against the balances projection rebuilt from the same events. */
const compareReplayWithBalances = async (sql: SqlExecutor, replayed: ReadonlyMap<string, BalanceSummary>, report: (problem: AuditProblem) => void) => {
  const rows = await sql.query<Record<string, string> & { account_id: string }>(
    `SELECT account_id, balance::text, reserved::text, total_purchased::text, total_granted::text, total_used::text,
            low_balance_threshold::text, last_revision::text, last_position::text FROM ${identifier(auditTables('balances'))}`,
  );
  const projected = new Map(rows.map((row) => [row.account_id, row]));
  for (const [account, summary] of replayed) {
    const row = projected.get(account);
    for (const [column, value] of Object.entries(summary)) {
      const stored = row?.[column];
      if (stored !== undefined && Number(stored) === value) continue;
      report({
        check: 'replay',
        account,
        position: BigInt(summary.last_position),
        subject: `balances.${column}`,
        stored: show(column, stored === undefined ? undefined : Number(stored)),
        recomputed: show(column, value),
      });
    }
  }
};

/**
 * Brings the side tables up to the live checkpoint, then compares them in a transaction
 * that holds the checkpoint row, so the live runner cannot move the model meanwhile.
 */
const holdAndCompare = async (
  sql: SqlClient,
  store: EventStore,
  projection: Projection,
  rebuilt: Map<string, bigint | null>,
  applyUpTo: (projection: Projection, events: readonly RecordedEvent[], target: bigint | null) => Promise<void>,
  batchSize: number,
  maxDifferences: number,
  report: (problem: AuditProblem) => void,
): Promise<boolean> => {
  for (let attempt = 0; attempt < MAX_HOLD_ATTEMPTS; attempt += 1) {
    const target = await readCheckpoint(sql, projection.name);
    for (let from = rebuilt.get(projection.name) ?? null; target !== null && (from === null || from < target); from = rebuilt.get(projection.name) ?? null) {
      const batch = await store.readAll(from, batchSize);
      if (batch.length === 0) break;
      await applyUpTo(projection, batch, target);
      if ((rebuilt.get(projection.name) ?? null) === from) break;
    }
    const differences = await sql.transaction(async (tx) => {
      const live = await readCheckpoint(tx, projection.name, true);
      if (live !== (rebuilt.get(projection.name) ?? null)) return null;
      return Promise.all(projection.tables.map((table) => tableDifferences(tx, table, maxDifferences)));
    });
    if (differences === null) continue;
    for (const problem of differences.flat()) report(problem);
    return true;
  }
  return false;
};

const primaryKey = async (tx: SqlExecutor, table: string): Promise<string[]> => {
  const rows = await tx.query<{ column: string }>(
    `SELECT a.attname AS column FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
    [identifier(table)],
  );
  return rows.map((row) => row.column);
};

/** Rows only in the live table or only in its replay, paired by primary key. */
const tableDifferences = async (tx: SqlExecutor, table: string, limit: number): Promise<AuditProblem[]> => {
  const live = identifier(table);
  const replay = identifier(auditTables(table));
  const key = await primaryKey(tx, table);
  const rows = await tx.query<{ side: 'live' | 'replay'; row: Record<string, unknown> }>(
    `(SELECT 'live' AS side, to_jsonb(d) AS row FROM (SELECT * FROM ${live} EXCEPT ALL SELECT * FROM ${replay}) AS d LIMIT $1)
     UNION ALL
     (SELECT 'replay' AS side, to_jsonb(d) AS row FROM (SELECT * FROM ${replay} EXCEPT ALL SELECT * FROM ${live}) AS d LIMIT $1)`,
    [limit],
  );
  const keyOf = (row: Record<string, unknown>) => JSON.stringify(key.length > 0 ? key.map((column) => row[column]) : row);
  const pairs = new Map<string, { live?: Record<string, unknown>; replay?: Record<string, unknown> }>();
  for (const { side, row } of rows) pairs.set(keyOf(row), { ...pairs.get(keyOf(row)), [side]: row });
  const problems: AuditProblem[] = [];
  for (const pair of pairs.values()) {
    const any = pair.live ?? pair.replay ?? {};
    const account = typeof any['account_id'] === 'string' ? any['account_id'] : null;
    const rawPosition = any['last_position'] ?? any['position'];
    const position = typeof rawPosition === 'number' || typeof rawPosition === 'string' ? BigInt(rawPosition) : null;
    const where = key.map((column) => `${column}=${JSON.stringify(any[column])}`).join(' ');
    if (pair.live === undefined || pair.replay === undefined) {
      addReadModelProblem(problems, account, position, `${table} row ${where}`, pair.live === undefined ? 'missing' : 'present', pair.replay === undefined ? 'missing' : 'present');
      continue;
    }
    for (const column of Object.keys(pair.replay)) {
      const [stored, recomputed] = [pair.live[column], pair.replay[column]];
      if (JSON.stringify(stored) === JSON.stringify(recomputed)) continue;
      addReadModelProblem(problems, account, position, `${table}.${column} (${where})`, show(column, stored), show(column, recomputed));
    }
  }
  return problems;
};

const addReadModelProblem = (problems: AuditProblem[], account: string | null, position: bigint | null, subject: string, stored: string, recomputed: string) =>
  problems.push({ check: 'read_model', account, position, subject, stored, recomputed });
