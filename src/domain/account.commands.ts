import type { AppliedRate } from './rate-card';

/**
 * Commands to a credit account: imperative, plain readonly data. The application
 * layer fills in every id, the fingerprint of the request and the time (`now`), so the
 * domain reads no clock and makes no randomness.
 */
interface CommandEnvelope {
  readonly accountId: string;
  /** Idempotency key (scoped to the account) or a server-made id. */
  readonly commandId: string;
  /** Fingerprint of the request: a repeat with another fingerprint is refused. */
  readonly requestHash: string;
  readonly now: string;
}

export interface UseCredits extends CommandEnvelope {
  readonly type: 'UseCredits';
  readonly usageId: string;
  readonly service: string;
  readonly quantity: number;
  /** The price of `service` on the rate card in force at `now`; null when the card has no such service. */
  readonly rate: AppliedRate | null;
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
}

export interface GrantCredits extends CommandEnvelope {
  readonly type: 'GrantCredits';
  readonly grantId: string;
  readonly creditsMillicredits: number;
  readonly reason: string;
  readonly expiresAt: string | null;
  readonly grantedBy: string;
}

export interface AdjustCredits extends CommandEnvelope {
  readonly type: 'AdjustCredits';
  readonly adjustmentId: string;
  readonly creditsMillicredits: number;
  readonly reason: string;
  readonly adjustedBy: string;
}

/** A paid Checkout Session: credits its package once, or holds it for review when the payment does not match. */
export interface RecordPurchase extends CommandEnvelope {
  readonly type: 'RecordPurchase';
  readonly purchaseId: string;
  readonly packageId: string;
  /** The package as configured; null when the session names no known package. */
  readonly expected: { readonly creditsMillicredits: number; readonly priceCents: number; readonly currency: string } | null;
  readonly paidCents: number;
  readonly paidCurrency: string;
  readonly paymentReference: string;
  readonly paymentIntentId: string | null;
}

/** Stripe's running total refunded on a purchase's payment: removes the refunded share of its credits. */
export interface RefundPurchase extends CommandEnvelope {
  readonly type: 'RefundPurchase';
  readonly paymentIntentId: string;
  readonly refundedCentsTotal: number;
}

export interface ReserveCredits extends CommandEnvelope {
  readonly type: 'ReserveCredits';
  readonly reservationId: string;
  readonly service: string;
  readonly quantity: number;
  readonly rate: AppliedRate | null;
  readonly expiresAt: string;
}

export interface CaptureReservation extends CommandEnvelope {
  readonly type: 'CaptureReservation';
  readonly reservationId: string;
  readonly quantity: number;
}

export interface ReleaseReservation extends CommandEnvelope {
  readonly type: 'ReleaseReservation';
  readonly reservationId: string;
}

/** From the expiry schedule: closes a reservation whose `expiresAt` has passed at `now`. */
export interface ExpireReservation extends CommandEnvelope {
  readonly type: 'ExpireReservation';
  readonly reservationId: string;
}

/** From the expiry schedule: removes what is left of a grant's lot once `now` reaches its expiry. */
export interface ExpireLot extends CommandEnvelope {
  readonly type: 'ExpireLot';
  readonly lotId: string;
}

export interface SetLowBalanceThreshold extends CommandEnvelope {
  readonly type: 'SetLowBalanceThreshold';
  readonly thresholdMillicredits: number;
}

export type AccountCommand =
  | UseCredits
  | GrantCredits
  | AdjustCredits
  | RecordPurchase
  | RefundPurchase
  | ReserveCredits
  | CaptureReservation
  | ReleaseReservation
  | ExpireReservation
  | ExpireLot
  | SetLowBalanceThreshold;
