import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

/** What every log line written while serving a request carries. */
export interface RequestContext {
  readonly requestId: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** 1–128 visible ASCII characters: anything else (spaces, control characters, too long) is replaced. */
const SANE_REQUEST_ID = /^[\x21-\x7E]{1,128}$/;

/** The client's `X-Request-Id` when it is sane, else a fresh one. */
export const requestIdFrom = (header: string | readonly string[] | undefined): string =>
  typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
