import { randomUUID } from 'node:crypto';

/**
 * A request's id travels explicitly (Fastify's `request.id`, passed to whatever logs on a
 * request's behalf), never through AsyncLocalStorage: on Node 20 that turns on async hooks
 * for every promise of the process, which cost 15% of the CPU of a spend (bench/README.md).
 */
export const REQUEST_ID_HEADER = 'x-request-id';

/** 1–128 visible ASCII characters: anything else (spaces, control characters, too long) is replaced. */
const SANE_REQUEST_ID = /^[\x21-\x7E]{1,128}$/;

/** The client's `X-Request-Id` when it is sane, else a fresh one. */
export const requestIdFrom = (header: string | readonly string[] | undefined): string =>
  typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
