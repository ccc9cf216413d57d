import { EventEmitter } from 'node:events';
import type { EventStore, RecordedEvent } from '../application/event-store.port';
import { abortablePause } from '../infrastructure/abortable-pause';
import type { SqlClient } from '../infrastructure/postgres/sql-client';
import { inBatches } from './batches';
import { advanceCheckpoints, createCheckpointsTable, ensureCheckpoint, lockCheckpointsForBatch, readCheckpoints } from './checkpoints';
import { liveTables, type Projection, type RowMemo } from './projection';

export interface RunnerFaults {
  /** Called after a batch is applied and before it commits: a test's injected crash. */
  beforeCommit?(batch: readonly RecordedEvent[]): Promise<void> | void;
}

export interface RunnerOptions {
  readonly batchSize: number;
  /**
   * How long a batch waits for more to join it: before its read, on a store that reads in
   * pages (subscribeInPages); after its first event, on one that pushes events.
   */
  readonly lingerMs?: number;
  /** How often a runner that lost the race for the lock tries again. */
  readonly standbyRetryMs: number;
  /** Pause after a failed batch before trying again. */
  readonly failureBackoffMs: number;
  readonly faults?: RunnerFaults;
  readonly onError?: (projection: string, error: unknown) => void;
}

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = { batchSize: 500, lingerMs: 10, standbyRetryMs: 1000, failureBackoffMs: 500 };

/** Rows a projection's memo may hold between batches (then it starts again from none). */
const MAX_REMEMBERED_ROWS = 100_000;

/** A lock key per projection, the same in every process. */
export const projectionLockKey = (name: string): number => {
  let hash = 2166136261;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return 1_000_000_000 + (hash % 1_000_000_000);
};

/**
 * Keeps a group of projections up to date from one read of the log. Exactly one runner
 * per group is active across all processes (a session advisory lock); the others stand
 * by and take over when the active one's connection dies.
 *
 * Each batch is one transaction for the whole group: it locks every checkpoint row,
 * gives each projection the events past its own checkpoint, and moves the checkpoints
 * with the rows, so every event is applied exactly once per projection, even after a
 * crash. Per batch that is one commit and two checkpoint statements, instead of a
 * transaction per projection. A checkpoint another process moved ahead (a rebuild's
 * swap) is simply respected: that projection skips what it already holds.
 */
export class ProjectionRunner {
  /** Emits 'applied' with the new checkpoint position after each committed batch. */
  readonly progress = new EventEmitter();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private readonly names: readonly string[];
  /**
   * The rows each projection that remembers rows wrote in this runner's committed batches
   * (Projection.remembersRows): they spare a read of the live tables per batch. Emptied
   * whenever the tables may hold something else: at every start of follow (a new lease, and
   * after any failed batch, whose rows the memo may hold though they rolled back), when a
   * projection's checkpoint is not where this runner left it (a rebuild swapped in new
   * tables), and past MAX_REMEMBERED_ROWS.
   */
  private readonly memos = new Map<string, RowMemo>();

  constructor(
    private readonly sql: SqlClient,
    private readonly store: EventStore,
    readonly projections: readonly Projection[],
    private readonly options: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    if (projections.length === 0) throw new Error('a projection runner needs at least one projection');
    this.names = projections.map((projection) => projection.name);
    this.progress.setMaxListeners(0);
  }

  /** What errors and the lease are reported under: the projections' names. */
  get name(): string {
    return this.names.join(',');
  }

  async start(): Promise<void> {
    for (const projection of this.projections) await prepareProjection(this.sql, projection);
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const lease = await this.sql.tryLock(projectionLockKey(this.name)).catch((error: unknown) => {
        this.options.onError?.(this.name, error);
        return null;
      });
      if (lease === null) {
        await abortablePause(this.options.standbyRetryMs, signal);
        continue;
      }
      const lost = new AbortController();
      void lease.lost.then(() => lost.abort());
      try {
        await this.follow(AbortSignal.any([signal, lost.signal]));
      } catch (error) {
        this.options.onError?.(this.name, error);
        await abortablePause(this.options.failureBackoffMs, signal);
      } finally {
        await lease.release();
      }
    }
  }

  /**
   * Applies the log from the group's earliest checkpoint on, until stopped or a
   * checkpoint is found behind what was read (moved back by hand): then it starts over.
   */
  private async follow(signal: AbortSignal): Promise<void> {
    for (const memo of this.memos.values()) memo.clear();
    const checkpoints = await readCheckpoints(this.sql, this.names);
    let read = earliest(checkpoints.map((checkpoint) => checkpoint.position));
    const { batchSize: maxSize, lingerMs } = this.options;
    // A store that reads in pages reads each batch only once the one before is applied; otherwise batch the events here.
    const batches =
      this.store.subscribeInPages?.({ after: read, signal, maxSize, ...(lingerMs === undefined ? {} : { lingerMs }) }) ??
      inBatches(this.store.subscribe({ after: read, signal }), maxSize, lingerMs);
    for await (const batch of batches) {
      const last = batch[batch.length - 1];
      if (last === undefined) continue;
      if (!(await this.applyBatch(batch, read, last.position))) return;
      read = last.position;
      this.progress.emit('applied', read);
    }
  }

  /** One transaction: each projection gets the events past its checkpoint; all checkpoints move to `end`. */
  private applyBatch(batch: readonly RecordedEvent[], read: bigint | null, end: bigint): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const positions = await lockCheckpointsForBatch(tx, this.names);
      const checkpointOf = (projection: Projection): bigint | null => positions.get(projection.name) ?? null;
      // A checkpoint behind what this runner read (moved back by hand) means events were
      // skipped for it: write nothing and read again from there. Checked for every
      // projection before any of them writes.
      const behind = (checkpoint: bigint | null): boolean => (checkpoint === null ? read !== null : read !== null && checkpoint < read);
      if (this.projections.some((projection) => behind(checkpointOf(projection)))) return false;
      for (const projection of this.projections) {
        const checkpoint = checkpointOf(projection);
        const events = checkpoint === null || (read !== null && checkpoint <= read) ? batch : batch.filter((event) => event.position > checkpoint);
        const memo = this.memoFor(projection, checkpoint === read);
        if (events.length > 0 && writesFor(projection, events)) await projection.apply(tx, events, liveTables, memo);
      }
      await this.options.faults?.beforeCommit?.(batch);
      await advanceCheckpoints(tx, this.names, end);
      return true;
    });
  }

  /** The projection's memo, emptied first unless its checkpoint is where this runner left it; none if it remembers no rows. */
  private memoFor(projection: Projection, checkpointAsLeft: boolean): RowMemo | undefined {
    if (projection.remembersRows !== true) return undefined;
    let memo = this.memos.get(projection.name);
    if (memo === undefined) {
      memo = new Map();
      this.memos.set(projection.name, memo);
    }
    if (!checkpointAsLeft || memo.size > MAX_REMEMBERED_ROWS) memo.clear();
    return memo;
  }
}

const writesFor = (projection: Projection, events: readonly RecordedEvent[]): boolean => {
  const handles = projection.handles;
  return handles === undefined || events.some((event) => handles.has(event.type));
};

/** The earliest of the checkpoints; null (nothing applied yet) comes before any position. */
const earliest = (positions: readonly (bigint | null)[]): bigint | null => {
  let least: bigint | undefined;
  for (const position of positions) {
    if (position === null) return null;
    if (least === undefined || position < least) least = position;
  }
  return least ?? null;
};

/** Serializes the schema set-up of projections across processes starting together. */
const PREPARE_LOCK_KEY = 4_817_301_157;

export const prepareProjection = (sql: SqlClient, projection: Projection): Promise<void> =>
  sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PREPARE_LOCK_KEY]);
    await createCheckpointsTable(tx);
    await projection.createTables(tx, liveTables);
    await ensureCheckpoint(tx, projection.name);
  });
