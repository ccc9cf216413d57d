import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { startLedger, storageTargets, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

/**
 * The contract: the team's shared copy beside the project when it is there, else the copy
 * kept in docs/ (a clean clone elsewhere has only that one). When both exist they must be
 * the same text, so the kept copy cannot fall behind unnoticed.
 */
const SHARED_API_MD = join(__dirname, '../../../shared/API.md');
const KEPT_API_MD = join(__dirname, '../../docs/API.md');
const API_MD = existsSync(SHARED_API_MD) ? SHARED_API_MD : KEPT_API_MD;

describe('the contract the OpenAPI document is checked against', () => {
  it('docs/API.md is the shared API.md, word for word, wherever both are present', () => {
    const kept = readFileSync(KEPT_API_MD, 'utf8');
    expect(kept).toContain('# Credit ledger HTTP API: the contract');
    if (existsSync(SHARED_API_MD)) expect(kept).toBe(readFileSync(SHARED_API_MD, 'utf8'));
  });
});

/**
 * Every route the contract names, read from the contract itself: each `GET /…`, `POST /…`
 * or `PUT /…` in API.md, `:param` written as OpenAPI's `{param}`, query strings and
 * optional `[…]` parts left off.
 */
const contractRoutes = (): Array<{ readonly method: string; readonly path: string }> => {
  const routes = new Map<string, { method: string; path: string }>();
  for (const [, method, rawPath] of readFileSync(API_MD, 'utf8').matchAll(/\b(GET|POST|PUT|PATCH|DELETE) (\/[^\s`?[]*)/g)) {
    if (method === undefined || rawPath === undefined) continue;
    const path = rawPath.replace(/:([A-Za-z]+)/g, '{$1}');
    routes.set(`${method} ${path}`, { method, path });
  }
  return [...routes.values()];
};

/**
 * `GET /docs` is the document's own UI, served by SwaggerModule outside Nest's router: a
 * Swagger document cannot list itself, so /docs is checked by fetching it, not in the list.
 */
const SELF_SERVED = new Set(['GET /docs']);

describe.each(storageTargets())('OpenAPI document on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let document: {
    openapi: string;
    paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown; parameters?: Array<{ name: string; in: string }> }>>;
    components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas: Record<string, unknown> };
    security: Array<Record<string, unknown>>;
  };

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
    document = (await request(ledger.baseUrl).get('/docs-json').expect(200).expect('content-type', /json/)).body;
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
  });

  it('parses the contract into routes (the parser itself works)', () => {
    const routes = contractRoutes().map(({ method, path }) => `${method} ${path}`);
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /api/credits/use',
        'GET /api/credits/balance',
        'POST /api/credits/reservations/{id}/capture',
        'GET /api/audit/accounts/{accountId}/events',
        'GET /metrics',
        'GET /docs',
      ]),
    );
    expect(routes.length).toBeGreaterThanOrEqual(20);
  });

  it('lists every route of API.md with its method (without a token: /docs-json is public)', () => {
    // Parameter names are the code's (the contract's reservation `:id` is `{reservationId}`): compare shapes.
    const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}');
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${shape(path)}`)),
    );
    const missing = contractRoutes()
      .map(({ method, path }) => `${method} ${path}`)
      .filter((route) => !SELF_SERVED.has(route) && !documented.has(shape(route)));
    expect(missing).toEqual([]);
  });

  it('serves the UI at /docs without a token', async () => {
    const ui = await request(ledger.baseUrl).get('/docs').expect(200).expect('content-type', /html/);
    const scripts = [...ui.text.matchAll(/(?:src|href)="\.\/docs\/([^"]+)"/g)].map(([, file]) => file);
    expect(scripts).toEqual(expect.arrayContaining(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-init.js']));
    for (const file of scripts) await request(ledger.baseUrl).get(`/docs/${file}`).expect(200);
    const init = await request(ledger.baseUrl).get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toContain('/api/credits/use');
  });

  it('derives request bodies and query parameters from the zod schemas', () => {
    const use = document.paths['/api/credits/use']?.['post'];
    expect(use?.requestBody).toMatchObject({
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            additionalProperties: false,
            required: expect.arrayContaining(['service', 'quantity']),
            properties: { service: { type: 'string', maxLength: 64 }, quantity: { type: 'integer' } },
          },
        },
      },
    });
    const grant = document.paths['/api/admin/accounts/{accountId}/grants']?.['post'];
    expect(grant?.requestBody).toMatchObject({
      content: { 'application/json': { schema: { required: expect.arrayContaining(['credits', 'reason']), properties: { expiresAt: { format: 'date-time' } } } } },
    });
    const transactions = document.paths['/api/credits/transactions']?.['get'];
    expect(transactions?.parameters?.filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name).sort()).toEqual(
      ['accountId', 'cursor', 'limit', 'minPosition', 'type'].sort(),
    );
  });

  it('describes the error model with the contract codes, and bearer auth everywhere but the public routes', () => {
    expect(document.components.securitySchemes['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(document.components.schemas['Error']).toMatchObject({
      required: ['error', 'message'],
      properties: { error: { enum: expect.arrayContaining(['validation_failed', 'insufficient_credits', 'reservation_closed', 'rate_limited', 'unavailable']) } },
    });
    const use = document.paths['/api/credits/use']?.['post'] as unknown as { responses: Record<string, { description: string }>; security?: unknown };
    expect(Object.keys(use.responses).sort()).toEqual(['200', '400', '401', '402', '403', '409', '413', '429', '503']);
    expect(use.responses['402']?.description).toContain('insufficient_credits');
    expect(use.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { type: 'object', properties: { charged: { type: 'string' }, position: { type: 'integer' } } } } },
    });
    expect(use.security).toBeUndefined();
    for (const [path, method] of [['/health', 'get'], ['/metrics', 'get'], ['/api/credits/webhook', 'post']] as const) {
      expect({ path, security: document.paths[path]?.[method]?.security }).toEqual({ path, security: [] });
    }
  });
});
