import { abortablePause } from '../abortable-pause';
import type { SqlClient } from './sql-client';

/**
 * Runs `tick` every `intervalMs` while this process holds the advisory lock `key`, until
 * the signal aborts: the one-process-at-a-time loop of the schedulers. Another process
 * takes over when this one's lock connection dies.
 */
export const runWhileLeased = async (
  sql: SqlClient,
  key: number,
  intervalMs: number,
  signal: AbortSignal,
  tick: () => Promise<unknown>,
  onError: (error: unknown) => void,
): Promise<void> => {
  while (!signal.aborted) {
    const lease = await sql.tryLock(key).catch(() => null);
    if (lease === null) {
      await abortablePause(intervalMs, signal);
      continue;
    }
    let lost = false;
    void lease.lost.then(() => (lost = true));
    try {
      while (!signal.aborted && !lost) {
        await tick().catch(onError);
        await abortablePause(intervalMs, signal);
      }
    } finally {
      await lease.release();
    }
  }
};
