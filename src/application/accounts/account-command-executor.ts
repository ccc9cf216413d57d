import { Inject, Injectable } from '@nestjs/common';
import type { AccountCommand } from '../../domain/account.commands';
import { decide, type Decision } from '../../domain/account.decider';
import { fold, type CommandRecord } from '../../domain/account.state';
import type { LedgerError } from '../../domain/ledger-error';
import { WrongExpectedRevisionError } from '../event-store.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { positionNumber } from './account-event-codec';
import { AccountRepository } from './account-repository';
import { KeyedQueue } from './keyed-queue';

const MAX_BACKOFF_MS = 100;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type CommandOutcome =
  | { readonly status: 'applied' | 'replayed'; readonly record: CommandRecord }
  | { readonly status: 'unchanged' }
  | { readonly status: 'rejected'; readonly error: LedgerError };

/** Every attempt conflicted with another writer: safe to retry, answered as 503. */
export class ConcurrencyExhaustedError extends Error {
  override readonly name = 'ConcurrencyExhaustedError';
}

/**
 * The whole write path of an account: load, decide, append with the expected revision,
 * and on a conflict (another process wrote the account) do it again from a fresh load,
 * a bounded number of times. Commands for one account are queued within the process.
 */
@Injectable()
export class AccountCommandExecutor {
  private readonly writers = new KeyedQueue();

  constructor(
    private readonly accounts: AccountRepository,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  execute(command: AccountCommand): Promise<CommandOutcome> {
    return this.writers.run(command.accountId, () => this.executeWithRetry(command));
  }

  private async executeWithRetry(command: AccountCommand): Promise<CommandOutcome> {
    for (let attempt = 1; attempt <= this.settings.maxAppendAttempts; attempt += 1) {
      try {
        return await this.attempt(command);
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        // Another process wrote the account: back off a random while so the two stop colliding.
        await delay(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
      }
    }
    throw new ConcurrencyExhaustedError(`account ${command.accountId}: ${this.settings.maxAppendAttempts} conflicting attempts`);
  }

  private async attempt(command: AccountCommand): Promise<CommandOutcome> {
    const { state, expectedRevision } = await this.accounts.load(command.accountId);
    const decision: Decision = decide(command, state, this.settings);
    if (decision.status !== 'accepted') return decision;
    const appended = await this.accounts.append(command.accountId, decision.events, expectedRevision);
    const position = positionNumber(appended.position);
    const after = fold(state, decision.events.map((event) => ({ event, position })), this.settings);
    const record = after.commands.get(command.commandId);
    if (record === undefined) throw new Error(`command ${command.commandId} left no record`);
    return { status: 'applied', record };
  }
}
