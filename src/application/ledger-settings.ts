import type { CreditPackage } from '../domain/credit-package';
import type { RateCard } from '../domain/rate-card';

/** The configuration the application layer needs, validated at start-up by infrastructure. */
export interface LedgerSettings {
  readonly idempotencyRetentionMs: number;
  readonly rateCards: readonly RateCard[];
  readonly packages: readonly CreditPackage[];
  /** Attempts of load → decide → append before a conflict is given up as `unavailable`. */
  readonly maxAppendAttempts: number;
  /** Events read per page while loading a stream. */
  readonly streamPageSize: number;
  /** A snapshot is kept once this many events were applied since the last one. */
  readonly snapshotEveryEvents: number;
  /** Most commands decided and appended together in one batch (one round trip, one commit). */
  readonly maxBatchCommands: number;
  /**
   * How long the newest batch in flight runs before a further one may start beside it: a
   * slow commit then holds up only its own accounts, while at ordinary speed what arrives
   * during a commit waits for it and goes out as one append.
   */
  readonly batchOverlapMs: number;
  /** Accounts whose state the writer keeps in memory. */
  readonly accountCacheSize: number;
  /**
   * Events applied since their account's last snapshot, summed over the cached accounts,
   * beyond which the writer snapshots an account early (once it has EARLY_SNAPSHOT_EVENTS
   * of its own): each such event keeps a command record in memory until a snapshot
   * archives it, so this bounds that memory however many accounts are busy. Events of
   * one-off commands (sent without an Idempotency-Key) keep no record and do not count.
   */
  readonly unarchivedEventsBudget: number;
  /** How long a query with `minPosition` waits for its read model before answering 503. */
  readonly readYourWritesTimeoutMs: number;
}

export const LEDGER_SETTINGS = Symbol('LedgerSettings');
