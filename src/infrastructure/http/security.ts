import { isUtf8 } from 'node:buffer';
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
 * The hardening of the HTTP layer, in hook order: security headers, the per-client rate
 * limit, a deadline on every answer, and refusal of bodies that are not UTF-8.
 */
export const registerSecurity = async (app: NestFastifyApplication, config: AppConfig): Promise<void> => {
  // Nest's adapter brings its own copy of Fastify's typings; the instance is the same Fastify 5.
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  // One helmet middleware for the process: @fastify/helmet builds a new one for every request,
  // which showed up in profiles of the spend path.
  const securityHeaders = helmet({ contentSecurityPolicy: CONTENT_SECURITY_POLICY, crossOriginEmbedderPolicy: false });
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, next: (error?: Error) => void) => {
    securityHeaders(request.raw, reply.raw, (error?: unknown) => next(error instanceof Error ? error : undefined));
  });
  registerRateLimit(fastify, { perMinute: config.rateLimitPerMinute, verifier: app.get(JwtVerifier) });
  registerAnswerDeadline(fastify, config.requestTimeoutMs);
  fastify.addHook('preValidation', async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = (request as FastifyRequest & { rawBody?: unknown }).rawBody;
    if (!Buffer.isBuffer(raw) || isUtf8(raw)) return;
    const error = validationFailed([{ field: 'body', problem: 'is not valid UTF-8' }]);
    return reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
  });
};

/**
 * A request not answered within `deadlineMs` gets 503 `unavailable` (safe to retry: a
 * command that finishes later is found again by its Idempotency-Key). Streams that took
 * over the socket (Server-Sent Events) have sent their headers and are left alone.
 */
const registerAnswerDeadline = (fastify: FastifyInstance, deadlineMs: number): void => {
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent || request.raw.destroyed) return;
      const error = new ApiError('unavailable', `no answer within ${deadlineMs} ms; retry`, { retryable: true });
      void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body());
    }, deadlineMs);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
    reply.raw.once('finish', () => clearTimeout(timer));
  });
};
