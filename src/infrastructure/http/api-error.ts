import type { LedgerError } from '../../domain/ledger-error';
import { formatCredits } from '../../domain/money';

export type ApiErrorCode =
  | 'validation_failed'
  | 'unauthenticated'
  | 'insufficient_credits'
  | 'forbidden'
  | 'not_found'
  | 'idempotency_key_reused'
  | 'reservation_closed'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal_error';

const STATUS: Readonly<Record<ApiErrorCode, number>> = {
  validation_failed: 400,
  unauthenticated: 401,
  insufficient_credits: 402,
  forbidden: 403,
  not_found: 404,
  idempotency_key_reused: 409,
  reservation_closed: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal_error: 500,
};

/** The codes API.md names; `internal_error` is the one it calls a bug. */
export const CONTRACT_ERROR_CODES: readonly ApiErrorCode[] = (Object.keys(STATUS) as ApiErrorCode[]).filter((code) => code !== 'internal_error');

export interface FieldProblem {
  readonly field: string;
  readonly problem: string;
}

/** An answer of the API's error model: `{ error, message, ...details }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }

  body(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.details };
  }
}

export const validationFailed = (fields: readonly FieldProblem[]): ApiError =>
  new ApiError(
    'validation_failed',
    fields.map(({ field, problem }) => `${field}: ${problem}`).join('; '),
    { fields },
  );

/** The one mapping of the domain's refusals to the API's error codes. */
export const fromLedgerError = (error: LedgerError): ApiError => {
  switch (error.code) {
    case 'insufficient_credits':
      return new ApiError('insufficient_credits', 'the spend would take available credits below zero', {
        required: formatCredits(error.requiredMillicredits),
        available: formatCredits(error.availableMillicredits),
      });
    case 'idempotency_key_reused':
      return new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request');
    case 'unknown_service':
      return validationFailed([
        { field: 'body.service', problem: `unknown service ${JSON.stringify(error.service)}; see GET /api/credits/pricing` },
      ]);
    case 'invalid_expiry':
      return validationFailed([{ field: 'body.expiresAt', problem: `must be after the current time ${error.now}` }]);
    case 'purchase_not_found':
      // A refund reported before its purchase: Stripe retries the delivery later.
      return new ApiError('unavailable', `no purchase with payment ${error.paymentIntentId} is recorded yet; retry`, { retryable: true });
    case 'reservation_not_found':
      return new ApiError('not_found', `no reservation ${error.reservationId}`);
    case 'reservation_closed':
      return new ApiError('reservation_closed', `reservation ${error.reservationId} is already ${error.status}`, { status: error.status });
    case 'amount_out_of_range':
      return validationFailed([{ field: 'body', problem: 'the amount is outside the range the ledger can hold' }]);
  }
};
