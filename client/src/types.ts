/**
 * The API's answers, as documented in API.md. Credit amounts are decimal strings with
 * exactly three decimals ("12.345"); never convert them to floating point to do money
 * arithmetic (see `parseMillicredits`).
 */

/** A credit amount: a decimal string with exactly three decimals, e.g. "12.345" or "-9.000". */
export type Credits = string;

export interface Balance {
  readonly accountId: string;
  readonly balance: Credits;
  /** balance - reserved: what may be spent now. */
  readonly available: Credits;
  readonly reserved: Credits;
  readonly totalPurchased: Credits;
  readonly totalGranted: Credits;
  readonly totalUsed: Credits;
  readonly lowBalanceThreshold: Credits;
  readonly lowBalance: boolean;
  readonly expiringWithin7Days: Credits;
  readonly burnRatePerHour: Credits;
  /** When `available` reaches zero at the recent burn rate; null when nothing is being spent. */
  readonly estimatedDepletionAt: string | null;
  readonly position: number;
}

export interface UseCreditsResult {
  readonly usageId: string;
  readonly service: string;
  readonly quantity: number;
  readonly charged: Credits;
  readonly balance: Credits;
  readonly available: Credits;
  readonly position: number;
}

export interface Reservation {
  readonly reservationId: string;
  readonly service: string;
  readonly quantity: number;
  readonly reserved: Credits;
  readonly expiresAt: string;
  readonly balance: Credits;
  readonly available: Credits;
  readonly position: number;
}

/** A hold that can still be captured or released: open, and not past `expiresAt` when listed. */
export interface OpenReservation {
  readonly reservationId: string;
  readonly service: string;
  readonly reserved: Credits;
  readonly expiresAt: string;
}

export interface OpenReservations {
  /** Soonest-expiring first. */
  readonly items: readonly OpenReservation[];
}

export interface CaptureResult {
  readonly reservationId: string;
  readonly service: string;
  readonly quantity: number;
  readonly charged: Credits;
  readonly released: Credits;
  readonly balance: Credits;
  readonly available: Credits;
  readonly position: number;
}

export interface ReleaseResult {
  readonly reservationId: string;
  readonly released: Credits;
  readonly balance: Credits;
  readonly available: Credits;
  readonly position: number;
}

export interface CheckoutSession {
  readonly sessionId: string;
  /** Where to send the buyer: Stripe Checkout, or the simulated page in development. */
  readonly checkoutUrl: string;
}

export const TRANSACTION_TYPES = ['purchase', 'grant', 'usage', 'adjustment', 'refund', 'expiry'] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];

export interface Transaction {
  readonly id: string;
  readonly type: TransactionType;
  /** Signed: "-9.000" for a spend. */
  readonly credits: Credits;
  readonly balanceAfter: Credits;
  readonly service?: string;
  readonly quantity?: number;
  readonly description: string;
  readonly occurredAt: string;
  readonly position: number;
}

export interface TransactionPage {
  readonly items: readonly Transaction[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

export interface ServiceRate {
  readonly service: string;
  readonly unit: string;
  /** What `per` units cost. */
  readonly credits: Credits;
  readonly per: number;
  readonly description: string;
}

export interface RateCard {
  readonly version: string;
  readonly effectiveFrom: string;
  readonly services: readonly ServiceRate[];
}

export interface CreditPackage {
  readonly id: string;
  readonly name: string;
  readonly credits: Credits;
  readonly priceCents: number;
  readonly currency: string;
}

export type UsageGrouping = 'service' | 'day';

export interface UsageItem {
  /** Present when grouped by service. */
  readonly service?: string;
  /** Present when grouped by day (YYYY-MM-DD, UTC). */
  readonly day?: string;
  readonly quantity: number;
  readonly credits: Credits;
}

export interface UsageReport {
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly groupBy: UsageGrouping;
  readonly items: readonly UsageItem[];
  readonly totalCredits: Credits;
}

export interface AlertSettings {
  readonly accountId: string;
  readonly lowBalanceThreshold: Credits;
  readonly balance: Credits;
  readonly available: Credits;
  readonly position: number;
}

/** The `low_balance` message of the live stream: one per downward crossing of the threshold. */
export interface LowBalanceAlert {
  readonly id: string;
  readonly accountId: string;
  readonly occurredAt: string;
}
