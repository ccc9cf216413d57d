import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { LedgerMetrics } from './ledger-metrics';
import { REQUEST_ID_HEADER } from './request-context';

/**
 * Per request: echoes the request id, and when the answer is sent records the latency by
 * route pattern and logs one line with the id. Neither headers nor bodies nor query
 * strings are logged.
 */
export const observeHttp = (fastify: FastifyInstance, metrics: LedgerMetrics, logger: Logger): void => {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        {
          requestId: request.id,
          method: request.method,
          route: route ?? null,
          path: request.url.split('?', 1)[0],
          statusCode: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request completed',
      );
    }
    done();
  });
};
