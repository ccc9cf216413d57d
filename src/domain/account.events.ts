/**
 * Events of one credit account (stream `credit-account-<accountId>`). Past-tense facts,
 * plain readonly data; never renamed once stored (evolve them with upcasters).
 * Amounts are integer millicredits; instants are ISO-8601 strings.
 */

/** A purchase, grant or positive adjustment: credits with a source, an expiry and an order. */
export type LotSource = 'grant' | 'adjustment' | 'purchase';

/** How much a spend or a debit took from one lot. */
export interface LotDraw {
  readonly lotId: string;
  readonly millicredits: number;
}

/** Every event that a command produced carries the command's id and request fingerprint. */
interface CommandFacts {
  readonly accountId: string;
  readonly commandId: string;
  readonly requestHash: string;
  readonly occurredAt: string;
}

export interface CreditsPurchased {
  readonly type: 'CreditsPurchased';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly lotId: string;
    readonly packageId: string;
    readonly creditsMillicredits: number;
    readonly priceCents: number;
    readonly currency: string;
    /** The Stripe Checkout Session id: one purchase per session, ever. */
    readonly paymentReference: string;
    /** The Stripe PaymentIntent, by which refunds find the purchase; null when unknown. */
    readonly paymentIntentId: string | null;
    /** Part of the credits that paid off debt first; the lot holds the rest. */
    readonly debtSettledMillicredits: number;
  };
}

/** Part of a purchase paid back: its credits leave the account, into debt where already spent. */
export interface CreditsRefunded {
  readonly type: 'CreditsRefunded';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly paymentReference: string;
    /** All refunded so far on the payment (Stripe's cumulative amount_refunded). */
    readonly refundedCentsTotal: number;
    /** Credits removed by this refund: drawn from lots, and what they could not cover added to debt. */
    readonly creditsMillicredits: number;
    readonly draws: readonly LotDraw[];
    readonly debtIncurredMillicredits: number;
  };
}

/** A paid session that does not match its package: not credited, kept for a person to review. */
export interface PaymentHeldForReview {
  readonly type: 'PaymentHeldForReview';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly paymentReference: string;
    readonly paymentIntentId: string | null;
    readonly packageId: string;
    readonly paidCents: number;
    readonly paidCurrency: string;
    readonly expectedCents: number | null;
    readonly expectedCurrency: string | null;
  };
}

/** A hold for a metered session: counts against `available` until captured, released or expired. */
export interface CreditsReserved {
  readonly type: 'CreditsReserved';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly reservationId: string;
    readonly service: string;
    readonly unit: string;
    readonly quantity: number;
    readonly rateCardVersion: string;
    readonly unitPriceMillicredits: number;
    readonly per: number;
    readonly reservedMillicredits: number;
    readonly expiresAt: string;
  };
}

/** The actual use of a reservation: charged at the reservation's price, the rest of the hold released. */
export interface ReservationCaptured {
  readonly type: 'ReservationCaptured';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly reservationId: string;
    readonly service: string;
    readonly quantity: number;
    readonly chargedMillicredits: number;
    /** The hold this capture ends. */
    readonly reservedMillicredits: number;
    readonly releasedMillicredits: number;
    readonly draws: readonly LotDraw[];
  };
}

/** A hold given back whole: released by the client, or expired unclosed. */
export interface ReservationReleased {
  readonly type: 'ReservationReleased';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly reservationId: string;
    readonly releasedMillicredits: number;
    readonly reason: 'released' | 'expired';
  };
}

/** The unused remainder of a grant's lot, gone at its expiry. */
export interface CreditsExpired {
  readonly type: 'CreditsExpired';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly lotId: string;
    readonly expiredMillicredits: number;
    readonly expiresAt: string;
  };
}

/** The account's low-balance threshold changed. */
export interface LowBalanceThresholdSet {
  readonly type: 'LowBalanceThresholdSet';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & { readonly thresholdMillicredits: number };
}

/** Available credits fell below the threshold: once per downward crossing, re-armed above it. */
export interface LowBalanceReached {
  readonly type: 'LowBalanceReached';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly alertId: string;
    readonly thresholdMillicredits: number;
    readonly balanceMillicredits: number;
    readonly availableMillicredits: number;
  };
}

export interface CreditsGranted {
  readonly type: 'CreditsGranted';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly lotId: string;
    readonly creditsMillicredits: number;
    readonly reason: string;
    readonly expiresAt: string | null;
    readonly grantedBy: string;
  };
}

export interface CreditsUsed {
  readonly type: 'CreditsUsed';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly usageId: string;
    readonly service: string;
    readonly unit: string;
    readonly quantity: number;
    readonly rateCardVersion: string;
    readonly unitPriceMillicredits: number;
    readonly per: number;
    readonly chargedMillicredits: number;
    readonly draws: readonly LotDraw[];
    readonly metadata: Readonly<Record<string, string | number | boolean>>;
  };
}

export interface CreditsAdjusted {
  readonly type: 'CreditsAdjusted';
  readonly schemaVersion: 1;
  readonly data: CommandFacts & {
    readonly adjustmentId: string;
    /** Signed: positive adds a lot with id `adjustmentId`, negative draws from lots. */
    readonly creditsMillicredits: number;
    readonly reason: string;
    readonly adjustedBy: string;
    readonly draws: readonly LotDraw[];
  };
}

export type AccountEvent =
  | CreditsPurchased
  | CreditsGranted
  | CreditsUsed
  | CreditsAdjusted
  | CreditsRefunded
  | PaymentHeldForReview
  | CreditsReserved
  | ReservationCaptured
  | ReservationReleased
  | CreditsExpired
  | LowBalanceThresholdSet
  | LowBalanceReached;
export type AccountEventType = AccountEvent['type'];

export const ACCOUNT_EVENT_TYPES: readonly AccountEventType[] = [
  'CreditsPurchased',
  'CreditsGranted',
  'CreditsUsed',
  'CreditsAdjusted',
  'CreditsRefunded',
  'PaymentHeldForReview',
  'CreditsReserved',
  'ReservationCaptured',
  'ReservationReleased',
  'CreditsExpired',
  'LowBalanceThresholdSet',
  'LowBalanceReached',
];

export const ACCOUNT_STREAM_PREFIX = 'credit-account-';
export const accountStreamId = (accountId: string): string => `${ACCOUNT_STREAM_PREFIX}${accountId}`;
