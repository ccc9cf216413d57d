/** The error codes of API.md, and 500's `internal_error` (which the API calls a bug). */
export const LEDGER_ERROR_CODES = [
  'validation_failed',
  'unauthenticated',
  'insufficient_credits',
  'forbidden',
  'not_found',
  'idempotency_key_reused',
  'reservation_closed',
  'payload_too_large',
  'rate_limited',
  'unavailable',
  'internal_error',
] as const;

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];

/** Extra fields some errors carry, by code. */
export interface LedgerErrorDetails {
  /** validation_failed: each bad field. */
  readonly fields?: ReadonlyArray<{ readonly field: string; readonly problem: string }>;
  /** insufficient_credits: what the spend needs and what is available (credit strings). */
  readonly required?: string;
  readonly available?: string;
  /** reservation_closed: captured, released or expired. */
  readonly status?: string;
  readonly [key: string]: unknown;
}

/** An error answer of the API: `{ error, message, ...details }` with its HTTP status. */
export class LedgerApiError extends Error {
  override readonly name = 'LedgerApiError';

  constructor(
    readonly code: LedgerErrorCode,
    readonly status: number,
    message: string,
    readonly details: LedgerErrorDetails = {},
  ) {
    super(message);
  }

  /** True for answers the API calls safe to retry (503; and 429 after its wait). */
  get retryable(): boolean {
    return this.code === 'unavailable' || this.code === 'rate_limited';
  }

  /** Builds the error from a non-2xx answer; a body outside the error model still yields a typed error. */
  static fromResponse(status: number, body: unknown): LedgerApiError {
    if (body !== null && typeof body === 'object' && 'error' in body) {
      const { error, message, ...details } = body as { error: unknown; message?: unknown } & Record<string, unknown>;
      const code = LEDGER_ERROR_CODES.find((known) => known === error);
      if (code !== undefined) return new LedgerApiError(code, status, typeof message === 'string' ? message : code, details);
    }
    return new LedgerApiError(codeForStatus(status), status, `HTTP ${status} without the API's error body`, { body });
  }
}

/** The request never got an answer (connection refused, reset, timed out) after every retry. */
export class LedgerNetworkError extends Error {
  override readonly name = 'LedgerNetworkError';

  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

/** A mistake the client catches before asking the service (an unknown service, a bad quantity). */
export class LedgerClientError extends Error {
  override readonly name = 'LedgerClientError';
}

export const isLedgerApiError = <Code extends LedgerErrorCode>(error: unknown, code?: Code): error is LedgerApiError & { code: Code } =>
  error instanceof LedgerApiError && (code === undefined || error.code === code);

const codeForStatus = (status: number): LedgerErrorCode => {
  switch (status) {
    case 400:
      return 'validation_failed';
    case 401:
      return 'unauthenticated';
    case 402:
      return 'insufficient_credits';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'payload_too_large';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'internal_error';
  }
};
