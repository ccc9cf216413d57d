export { createLedgerClient, LedgerClient, newIdempotencyKey } from './client';
export type {
  AccountOptions,
  AttemptReport,
  BalanceStreamHandlers,
  BalanceSubscription,
  LedgerClientOptions,
  ReadOptions,
  RetryPolicy,
  StreamStatus,
  TransactionQuery,
  UsageQuery,
  WriteOptions,
} from './client';
export { ENDPOINTS, endpointPath, type EndpointName } from './endpoints';
export { isLedgerApiError, LEDGER_ERROR_CODES, LedgerApiError, LedgerClientError, LedgerNetworkError } from './errors';
export type { LedgerErrorCode, LedgerErrorDetails } from './errors';
export { chargeMillicredits, formatMillicredits, parseMillicredits } from './money';
export { SseParser, type SseMessage } from './sse';
export * from './types';
