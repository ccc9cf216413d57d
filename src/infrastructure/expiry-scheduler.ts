import type { CommandBus } from '@nestjs/cqrs';
import type { Clock } from '../application/clock.port';
import { ExpireDueCommand } from '../application/reservations/reservation.commands';
import { dropExpiry, dueExpiries, type DueExpiry } from '../projections/expiry-schedule.projection';
import { runWhileLeased } from './postgres/leased-loop';
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

  private loop(): Promise<void> {
    return runWhileLeased(this.sql, SCHEDULER_LOCK_KEY, this.options.intervalMs, this.stopping.signal, () => this.runOnce(), (error) =>
      this.options.onError?.(error),
    );
  }
}
