import type { ProjectionName, ProjectionProgress } from '../application/read-models.port';
import type { SqlClient } from '../infrastructure/postgres/sql-client';
import { readCheckpoints } from './checkpoints';

const POLL_INTERVAL_MS = 5;

/**
 * Read-your-writes over the checkpoints table, so it holds whichever process runs the
 * projections: a query waits, polling, until every projection it reads has applied
 * the position the client saw, or the time is up.
 */
export class CheckpointProgress implements ProjectionProgress {
  constructor(private readonly sql: SqlClient) {}

  async waitFor(projections: readonly ProjectionName[], position: number, timeoutMs: number): Promise<boolean> {
    if (position === 0) return true;
    const target = BigInt(position);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const checkpoints = await readCheckpoints(this.sql, projections);
      if (checkpoints.every((checkpoint) => checkpoint.position !== null && checkpoint.position >= target)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }
}
