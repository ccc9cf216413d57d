import { EventEmitter } from 'node:events';
import type { EventStore, RecordedEvent } from '../application/event-store.port';
import { abortablePause } from '../infrastructure/abortable-pause';
import type { SqlClient } from '../infrastructure/postgres/sql-client';
import { inBatches } from './batches';
import { advanceCheckpoint, createCheckpointsTable, ensureCheckpoint, lockCheckpointForBatch, readCheckpoint, writeCheckpoint } from './checkpoints';
import { liveTables, type Projection } from './projection';

export interface RunnerFaults {
  /** Called after a batch is applied and before it commits: a test's injected crash. */
  beforeCommit?(batch: readonly RecordedEvent[]): Promise<void> | void;
}

export interface RunnerOptions {
  readonly batchSize: number;
  /** How long a batch waits, once its first event is there, for more to join it. */
  readonly lingerMs?: number;
  /** How often a runner that lost the race for the lock tries again. */
  readonly standbyRetryMs: number;
  /** Pause after a failed batch before trying again. */
  readonly failureBackoffMs: number;
  readonly faults?: RunnerFaults;
  readonly onError?: (projection: string, error: unknown) => void;
}

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = { batchSize: 500, lingerMs: 10, standbyRetryMs: 1000, failureBackoffMs: 500 };

/** A lock key per projection, the same in every process. */
export const projectionLockKey = (name: string): number => {
  let hash = 2166136261;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return 1_000_000_000 + (hash % 1_000_000_000);
};

/**
 * Keeps one projection up to date. Exactly one runner per projection is active across
 * all processes (a session advisory lock); the others stand by and take over when the
 * active one's connection dies. Each batch's read-model writes and its checkpoint commit
 * in one transaction, so every event is applied exactly once, even after a crash.
 */
export class ProjectionRunner {
  /** Emits 'applied' with the new checkpoint position after each committed batch. */
  readonly progress = new EventEmitter();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly sql: SqlClient,
    private readonly store: EventStore,
    readonly projection: Projection,
    private readonly options: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    this.progress.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await prepareProjection(this.sql, this.projection);
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const lease = await this.sql.tryLock(projectionLockKey(this.projection.name)).catch((error: unknown) => {
        this.options.onError?.(this.projection.name, error);
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
        this.options.onError?.(this.projection.name, error);
        await abortablePause(this.options.failureBackoffMs, signal);
      } finally {
        await lease.release();
      }
    }
  }

  /** Applies the log from the checkpoint on, until stopped or the checkpoint moves under it (a rebuild swap). */
  private async follow(signal: AbortSignal): Promise<void> {
    const { name } = this.projection;
    let checkpoint = await readCheckpoint(this.sql, name);
    for await (const batch of inBatches(this.store.subscribe({ after: checkpoint, signal }), this.options.batchSize, this.options.lingerMs)) {
      const last = batch[batch.length - 1];
      if (last === undefined) continue;
      const moved = this.writes(batch) ? await this.applyBatch(batch, checkpoint, last.position) : await this.skipBatch(batch, checkpoint, last.position);
      if (!moved) return;
      checkpoint = last.position;
      this.progress.emit('applied', checkpoint);
    }
  }

  private writes(batch: readonly RecordedEvent[]): boolean {
    const handles = this.projection.handles;
    return handles === undefined || batch.some((event) => handles.has(event.type));
  }

  private async skipBatch(batch: readonly RecordedEvent[], expected: bigint | null, position: bigint): Promise<boolean> {
    await this.options.faults?.beforeCommit?.(batch);
    return advanceCheckpoint(this.sql, this.projection.name, expected, position);
  }

  /** The batch's writes and the checkpoint in one transaction, if the checkpoint still stands at `expected`. */
  private applyBatch(batch: readonly RecordedEvent[], expected: bigint | null, position: bigint): Promise<boolean> {
    const { name } = this.projection;
    return this.sql.transaction(async (tx) => {
      if ((await lockCheckpointForBatch(tx, name)) !== expected) return false;
      await this.projection.apply(tx, batch, liveTables);
      await this.options.faults?.beforeCommit?.(batch);
      await writeCheckpoint(tx, name, position);
      return true;
    });
  }
}

/** Serializes the schema set-up of projections across processes starting together. */
const PREPARE_LOCK_KEY = 4_817_301_157;

export const prepareProjection = (sql: SqlClient, projection: Projection): Promise<void> =>
  sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PREPARE_LOCK_KEY]);
    await createCheckpointsTable(tx);
    await projection.createTables(tx, liveTables);
    await ensureCheckpoint(tx, projection.name);
  });
