import type { EventStore } from '../application/event-store.port';
import type { SqlClient } from '../infrastructure/postgres/sql-client';
import { readCheckpoints } from './checkpoints';
import type { Projection } from './projection';
import { DEFAULT_RUNNER_OPTIONS, ProjectionRunner, type RunnerOptions } from './projection-runner';

export interface ProjectionLag {
  /** Events appended but not yet applied (counted up to LAG_COUNT_LIMIT). */
  readonly events: number;
  /** Age of the oldest event not yet applied; 0 when caught up. */
  readonly ms: number;
  readonly position: number | null;
}

const LAG_COUNT_LIMIT = 1000;

/** What keeps the group up to date: a ProjectionRunner here, or one in a worker thread. */
export interface GroupRunner {
  /** Where it runs, for the logs: 'this thread', 'a worker thread'. */
  readonly where?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a set of projections as one group, and reports how far behind the log each is. */
export class ProjectionsHost {
  private readonly runner: GroupRunner;

  /** `runner`: where the group runs; by default a ProjectionRunner in this thread. */
  constructor(
    private readonly sql: SqlClient,
    private readonly store: EventStore,
    readonly projections: readonly Projection[],
    options: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
    runner?: GroupRunner,
  ) {
    // One runner for all of them: one read of the log and one transaction per batch.
    this.runner = runner ?? new ProjectionRunner(sql, store, projections, options);
  }

  async start(): Promise<void> {
    await this.runner.start();
  }

  /** Where the group runs, for the logs. */
  get where(): string {
    return this.runner.where ?? 'this thread';
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  async lag(now: Date): Promise<Record<string, ProjectionLag>> {
    const checkpoints = await readCheckpoints(this.sql, this.projections.map((projection) => projection.name));
    const entries = await Promise.all(
      checkpoints.map(async (checkpoint): Promise<[string, ProjectionLag]> => {
        const pending = await this.store.readAll(checkpoint.position, LAG_COUNT_LIMIT);
        const oldest = pending[0];
        return [
          checkpoint.name,
          {
            events: pending.length,
            ms: oldest === undefined ? 0 : Math.max(0, now.getTime() - oldest.recordedAt.getTime()),
            position: checkpoint.position === null ? null : Number(checkpoint.position),
          },
        ];
      }),
    );
    return Object.fromEntries(entries);
  }
}
