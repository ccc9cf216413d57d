import type { CommandBus } from '@nestjs/cqrs';
import type { Clock } from '../application/clock.port';
import { ExpireDueCommand } from '../application/reservations/reservation.commands';
import { dropExpiry, dueExpiries, type DueExpiry } from '../projections/expiry-schedule.projection';
import type { SqlClient } from './postgres/sql-client';

const SCHEDULER_LOCK_KEY = 4_817_301_158;
const BATCH = 100;

export interface ExpirySchedulerOptions {
  readonly intervalMs: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * Closes what is due: expired reservations are released and expired grant lots lose
 * their remainder. The clock reaches the domain only as the command's `now`; each
 * command is keyed by what it expires, and the domain leaves anything not due or
 * already closed unchanged, so repeats after a crash or a restart have one effect.
 * One process at a time runs it (an advisory lock), like the projections.
 */
export class ExpiryScheduler {
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly sql: SqlClient,
    private readonly commands: CommandBus,
    private readonly clock: Clock,
    private readonly options: ExpirySchedulerOptions,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  /** One pass over what is due now; returns how many items it closed or dropped. */
  async runOnce(): Promise<number> {
    const due = await dueExpiries(this.sql, this.clock.now(), BATCH);
    for (const item of due) await this.expire(item);
    return due.length;
  }

  private async expire(item: DueExpiry): Promise<void> {
    const outcome = await this.commands.execute(
      new ExpireDueCommand({
        accountId: item.accountId,
        commandId: `expire:${item.kind}:${item.refId}`,
        requestHash: `expire:${item.kind}:${item.refId}`,
        kind: item.kind,
        refId: item.refId,
      }),
    );
    if (outcome.status === 'unchanged') await dropExpiry(this.sql, item);
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const lease = await this.sql.tryLock(SCHEDULER_LOCK_KEY).catch(() => null);
      if (lease === null) {
        await this.pause(signal);
        continue;
      }
      let lost = false;
      void lease.lost.then(() => (lost = true));
      try {
        while (!signal.aborted && !lost) {
          try {
            await this.runOnce();
          } catch (error) {
            this.options.onError?.(error);
          }
          await this.pause(signal);
        }
      } finally {
        await lease.release();
      }
    }
  }

  private pause(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.options.intervalMs);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
