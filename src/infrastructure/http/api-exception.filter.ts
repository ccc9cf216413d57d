import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConcurrencyExhaustedError } from '../../application/accounts/account-command-executor';
import { EventStoreUnavailableError } from '../../application/event-store.port';
import { ReadModelBehindError } from '../../application/read-your-writes';
import { ApiError, fromLedgerError, validationFailed } from './api-error';
import { LedgerRejection } from './ledger-rejection';

/** SQLSTATE classes and socket errors that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);
/** SQLSTATEs of a request's value Postgres cannot hold (numeric or date/time out of range): the client's fault. */
const OUT_OF_RANGE_SQLSTATE = new Set(['22003', '22007', '22008']);

/** The one place where anything thrown becomes an answer of the API's error model. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const error = this.toApiError(exception, http.getRequest<FastifyRequest | undefined>()?.id);
    void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
  }

  /** The answer for what was thrown; what is logged about it names the request. */
  toApiError(exception: unknown, requestId?: string): ApiError {
    const log = (level: 'warn' | 'error', msg: string): void => this.logger[level]({ msg, ...(requestId === undefined ? {} : { requestId }) });
    if (exception instanceof ApiError) return exception;
    if (exception instanceof LedgerRejection) return fromLedgerError(exception.error);
    if (exception instanceof ConcurrencyExhaustedError) {
      return new ApiError('unavailable', 'the account is busy with concurrent writes; retry', { retryable: true });
    }
    if (exception instanceof ReadModelBehindError) {
      return new ApiError('unavailable', exception.message, { retryable: true, minPosition: exception.position });
    }
    if (isStripeError(exception)) {
      log('warn', `payment provider: ${messageOf(exception)}`);
      return new ApiError('unavailable', 'the payment provider could not be reached or refused the request; retry', { retryable: true });
    }
    if (exception instanceof HttpException) return fromHttpStatus(exception.getStatus(), exception.message);
    const status = statusCodeOf(exception);
    if (status !== undefined && status >= 400 && status < 500) return fromHttpStatus(status, messageOf(exception));
    if (isOutOfRange(exception)) {
      log('warn', `value out of range: ${messageOf(exception)}`);
      return validationFailed([{ field: 'request', problem: 'a value is outside the range the ledger can store' }]);
    }
    if (exception instanceof EventStoreUnavailableError || isUnavailable(exception)) {
      log('warn', `dependency unavailable: ${messageOf(exception)}`);
      return new ApiError('unavailable', 'a dependency is unavailable; retry', { retryable: true });
    }
    log('error', exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return new ApiError('internal_error', 'internal error');
  }
}

const fromHttpStatus = (status: number, message: string): ApiError => {
  if (status === 404) return new ApiError('not_found', 'no such route or resource');
  if (status === 413) return new ApiError('payload_too_large', 'the request body is over the size limit');
  if (status === 401) return new ApiError('unauthenticated', message);
  if (status === 403) return new ApiError('forbidden', message);
  if (status === 429) return new ApiError('rate_limited', message);
  return validationFailed([{ field: 'request', problem: message }]);
};

const statusCodeOf = (exception: unknown): number | undefined => {
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
};

const messageOf = (exception: unknown): string => (exception instanceof Error ? exception.message : String(exception));

const isUnavailable = (exception: unknown): boolean => {
  const code = (exception as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return messageOf(exception).includes('Connection terminated');
  return UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code);
};

const isOutOfRange = (exception: unknown): boolean => {
  const code = (exception as { code?: unknown } | null)?.code;
  return typeof code === 'string' && OUT_OF_RANGE_SQLSTATE.has(code);
};

/** Errors of the Stripe SDK (connection, API, authentication): ours to retry, never the client's fault. */
const isStripeError = (exception: unknown): boolean => {
  const type = (exception as { type?: unknown } | null)?.type;
  return exception instanceof Error && typeof type === 'string' && type.startsWith('Stripe');
};
