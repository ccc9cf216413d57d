import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../config/app-config';
import { JwtVerifier } from '../auth/jwt-verifier';
import { ApiError, validationFailed } from './api-error';
import { registerRateLimit } from './rate-limit';

/**
 * Socket-level bounds for Fastify. `requestTimeout` bounds receiving a whole request
 * (slow-loris bodies); `connectionTimeout` drops a socket idle that long. The live balance
 * stream writes a heartbeat every `sseHeartbeatMs`, so the idle bound stays well above it.
 */
export const serverTimeouts = (config: AppConfig): { requestTimeout: number; connectionTimeout: number } => ({
  requestTimeout: config.requestTimeoutMs,
  connectionTimeout: Math.max(2 * config.requestTimeoutMs, 3 * config.sseHeartbeatMs),
});

/**
 * Content Security Policy: everything from this origin only. The Swagger UI at /docs
 * sets inline styles (and shows data: images), so styles allow 'unsafe-inline'; scripts
 * never do.
 */
const CONTENT_SECURITY_POLICY = {
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    // The service is often reached over plain http (localhost, behind a TLS proxy): upgrading would break /docs.
    upgradeInsecureRequests: null,
  },
};

/**
 * The headers helmet sets with this configuration, worked out once: they do not depend on
 * the request, and running helmet's twelve middlewares for every request showed up in
 * profiles of the spend path.
 */
export const securityHeaders = (): Readonly<Record<string, string>> => {
  const headers = new Map<string, string>();
  const response = {
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  };
  let done = false;
  helmet({ contentSecurityPolicy: CONTENT_SECURITY_POLICY, crossOriginEmbedderPolicy: false })(
    {} as IncomingMessage,
    response as unknown as ServerResponse,
    (error?: unknown) => {
      if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
      done = true;
    },
  );
  if (!done || headers.size === 0) throw new Error('helmet did not set its headers synchronously');
  return Object.fromEntries(headers);
};

/**
 * The hardening of the HTTP layer, in hook order: security headers, the per-client rate
 * limit, a deadline on every answer, and refusal of bodies that are not UTF-8. Every hook
 * is synchronous where it can be: an async hook costs a promise per request.
 */
export const registerSecurity = async (app: NestFastifyApplication, config: AppConfig): Promise<void> => {
  // Nest's adapter brings its own copy of Fastify's typings; the instance is the same Fastify 5.
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  const headers = securityHeaders();
  fastify.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    void reply.headers(headers);
    done();
  });
  registerRateLimit(fastify, { perMinute: config.rateLimitPerMinute, verifier: app.get(JwtVerifier) });
  registerAnswerDeadline(fastify, config.requestTimeoutMs);
  fastify.addHook('preValidation', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const raw = (request as FastifyRequest & { rawBody?: unknown }).rawBody;
    if (!Buffer.isBuffer(raw) || isUtf8(raw)) return done();
    const error = validationFailed([{ field: 'body', problem: 'is not valid UTF-8' }]);
    void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
  });
};

const DEADLINE_SLOT = 'answerDeadlineSlot';

/** How often the deadlines are checked: a tenth of the deadline, between 10 ms and 1 s. */
const sweepIntervalMs = (deadlineMs: number): number => Math.min(1000, Math.max(10, Math.floor(deadlineMs / 10)));

/**
 * A request not answered within `deadlineMs` (give or take one sweep interval) gets 503
 * `unavailable` (safe to retry: a command that finishes later is found again by its
 * Idempotency-Key). Streams that took over the socket (Server-Sent Events) have sent
 * their headers and are left alone. Requests wait in buckets by the sweep their deadline
 * falls in, one timer for all of them: a timer and two listeners per request cost more.
 */
const registerAnswerDeadline = (fastify: FastifyInstance, deadlineMs: number): void => {
  const intervalMs = sweepIntervalMs(deadlineMs);
  const buckets = new Map<number, Set<FastifyReply>>();
  // Declared on every reply up front, so setting it never changes the reply's shape.
  fastify.decorateReply(DEADLINE_SLOT, 0);
  const slotOf = (reply: FastifyReply) => reply as FastifyReply & { [DEADLINE_SLOT]: number };
  const sweep = (): void => {
    const due = Math.floor(Date.now() / intervalMs);
    for (const [slot, replies] of buckets) {
      if (slot > due) continue;
      buckets.delete(slot);
      for (const reply of replies) {
        if (reply.sent || reply.raw.headersSent || reply.request.raw.destroyed) continue;
        const error = new ApiError('unavailable', `no answer within ${deadlineMs} ms; retry`, { retryable: true });
        void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
      }
    }
  };
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  fastify.addHook('onClose', (_instance, done) => {
    clearInterval(timer);
    done();
  });
  fastify.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const slot = Math.ceil((Date.now() + deadlineMs) / intervalMs);
    let replies = buckets.get(slot);
    if (replies === undefined) {
      replies = new Set();
      buckets.set(slot, replies);
    }
    replies.add(reply);
    slotOf(reply)[DEADLINE_SLOT] = slot;
    done();
  });
  fastify.addHook('onResponse', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    buckets.get(slotOf(reply)[DEADLINE_SLOT])?.delete(reply);
    done();
  });
};
