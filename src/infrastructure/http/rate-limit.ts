import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JwtVerifier } from '../auth/jwt-verifier';
import { ApiError } from './api-error';

const WINDOW_MS = 60_000;
/** Routes never limited: load balancers and orchestrators poll them. */
const EXEMPT_PATHS: ReadonlySet<string> = new Set(['/health']);

export interface RateLimitOptions {
  /** Requests per client per window; 0 turns the limit off. */
  readonly perMinute: number;
  /** Verifies the bearer token, so that only a genuine subject gets its own bucket. */
  readonly verifier: Pick<JwtVerifier, 'verify'>;
  readonly now?: () => number;
}

/**
 * A fixed one-minute window per client. The client is the token's subject when the token
 * verifies (a forged or unsigned token cannot mint fresh buckets by varying `sub`), and
 * the peer's IP otherwise. The subject is only a bucket key here: authorization stays
 * with the guard, which verifies the token again.
 */
export class FixedWindowRateLimiter {
  private windowStartMs = 0;
  private counts = new Map<string, number>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request of `client`; the seconds to wait when it is over the limit, else null. */
  take(client: string): number | null {
    const now = this.now();
    const windowStartMs = now - (now % WINDOW_MS);
    if (windowStartMs !== this.windowStartMs) {
      // A new window forgets every client: memory is bounded by one window's clients.
      this.windowStartMs = windowStartMs;
      this.counts = new Map();
    }
    const count = (this.counts.get(client) ?? 0) + 1;
    this.counts.set(client, count);
    if (count <= this.perMinute) return null;
    return Math.max(1, Math.ceil((windowStartMs + WINDOW_MS - now) / 1000));
  }
}

const clientOf = async (request: FastifyRequest, verifier: Pick<JwtVerifier, 'verify'>): Promise<string> => {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const verification = await verifier.verify(authorization).catch(() => undefined);
    if (verification?.ok === true) return `sub:${verification.principal.role}:${verification.principal.subject}`;
  }
  return `ip:${request.ip}`;
};

const pathOf = (url: string): string => url.split('?', 1)[0] ?? url;

/** Adds the limit as the first onRequest hook: over-limit requests are answered 429 before any work. */
export const registerRateLimit = (fastify: FastifyInstance, options: RateLimitOptions): void => {
  if (options.perMinute === 0) return;
  const limiter = new FixedWindowRateLimiter(options.perMinute, options.now);
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (EXEMPT_PATHS.has(pathOf(request.url))) return;
    const retryAfterSeconds = limiter.take(await clientOf(request, options.verifier));
    if (retryAfterSeconds === null) return;
    const error = new ApiError('rate_limited', `too many requests; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    return reply
      .status(error.status)
      .header('retry-after', String(retryAfterSeconds))
      .header('content-type', 'application/json; charset=utf-8')
      .send(error.body());
  });
};
