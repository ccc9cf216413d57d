/**
 * Expected refusals of a command, as typed values. Precedence when several apply
 * (checked in this order): idempotency_key_reused, then unknown_service and
 * invalid_expiry, then amount_out_of_range, then insufficient_credits.
 */
export type LedgerError =
  | { readonly code: 'idempotency_key_reused' }
  | { readonly code: 'unknown_service'; readonly service: string }
  | { readonly code: 'purchase_not_found'; readonly paymentIntentId: string }
  | { readonly code: 'reservation_not_found'; readonly reservationId: string }
  | { readonly code: 'reservation_closed'; readonly reservationId: string; readonly status: ReservationStatus }
  | { readonly code: 'invalid_expiry'; readonly expiresAt: string; readonly now: string }
  | { readonly code: 'amount_out_of_range' }
  | {
      readonly code: 'insufficient_credits';
      readonly requiredMillicredits: number;
      readonly availableMillicredits: number;
    };

export type ReservationStatus = 'open' | 'captured' | 'released' | 'expired';

export type LedgerErrorCode = LedgerError['code'];
