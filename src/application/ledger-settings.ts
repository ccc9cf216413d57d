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
  /** How long a query with `minPosition` waits for its read model before answering 503. */
  readonly readYourWritesTimeoutMs: number;
}

export const LEDGER_SETTINGS = Symbol('LedgerSettings');
