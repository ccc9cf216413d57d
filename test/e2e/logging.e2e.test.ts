import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { loadConfig } from '../../src/infrastructure/config/app-config';
import { createHttpApp } from '../../src/infrastructure/http-app';
import { checkoutCompletedEvent, signPayload, startFakeStripe, type FakeStripe } from '../support/fake-stripe';
import { storageTargets, TEST_JWT_SECRET, tokenFor, type LedgerStorage } from '../support/ledger-app';

const WEBHOOK_SECRET = 'whsec_logging_test_secret_0123456789';

type LogLine = Record<string, unknown> & { readonly level: string; readonly msg?: string; readonly requestId?: string };

describe.each(storageTargets())('JSON logs on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let app: NestFastifyApplication;
  let baseUrl: string;
  /** Everything the service logged, exactly as written. */
  const written: string[] = [];
  let userToken: string;
  const requestIds: string[] = [];
  let webhookRequestId = '';
  let checkoutRequestId = '';
  let stripe: FakeStripe;
  const accountId = `logs-${randomUUID()}`;

  const lines = (): LogLine[] => written.join('').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    storage = await makeStorage();
    stripe = await startFakeStripe();
    const config = loadConfig({
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      STRIPE_SECRET_KEY: 'sk_test_logging',
      STRIPE_API_BASE_URL: stripe.url,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      HOST: '127.0.0.1',
      ...storage.env,
    });
    app = await createHttpApp(config, { destination: { write: (line: string) => void written.push(line) } });
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    baseUrl = `http://127.0.0.1:${address.port}`;
    userToken = await tokenFor(accountId);
    const http = () => request(baseUrl);
    const record = (response: { headers: Record<string, string | undefined> }) => {
      const id = response.headers['x-request-id'];
      if (id === undefined) throw new Error('no X-Request-Id in the answer');
      requestIds.push(id);
      return id;
    };

    record(await http().get('/api/credits/balance').set('Authorization', `Bearer ${userToken}`).set('X-Request-Id', 'client-trace-0001').expect(200));
    const wrongSecret = await tokenFor(accountId, 'user', { secret: 'another-secret-that-is-long-enough-0123456789' });
    record(await http().get('/api/credits/balance').set('Authorization', `Bearer ${wrongSecret}`).expect(401));
    record(await http().get('/api/credits/balance').set('Authorization', 'Bearer not.a.jwt').expect(401));
    // A token in the query string: refused (unknown parameter), and the URL is logged without its query.
    record(await http().get(`/api/credits/balance?access_token=${userToken}`).set('Authorization', `Bearer ${userToken}`).expect(400));
    record(await http().get('/api/credits/balance').set('Authorization', `Bearer ${userToken}`).set('X-Request-Id', 'x'.repeat(129)).expect(200));
    record(await http().get('/api/credits/balance').set('Authorization', `Bearer ${userToken}`).set('X-Request-Id', 'has space').expect(200));
    // A paid session that names no account of this ledger: the processor logs a warning while handling it.
    const orphan = checkoutCompletedEvent({ id: `cs_test_${randomUUID()}`, accountId: '', packageId: 'starter', amountTotal: 1000, currency: 'usd', paymentIntent: 'pi_x' });
    webhookRequestId = record(
      await http().post('/api/credits/webhook').set('Content-Type', 'application/json').set('Stripe-Signature', signPayload(orphan, WEBHOOK_SECRET)).send(orphan).expect(200),
    );
    record(await http().post('/api/credits/webhook').set('Content-Type', 'application/json').set('Stripe-Signature', 't=1,v1=deadbeef').send(orphan).expect(400));
    // Stripe down: the exception filter logs a warning while it answers 503.
    stripe.setOutage(true);
    checkoutRequestId = record(await http().post('/api/credits/checkout').set('Authorization', `Bearer ${userToken}`).send({ packageId: 'starter' }).expect(503));
    stripe.setOutage(false);
  });

  afterAll(async () => {
    await app?.close();
    await stripe?.close();
    await storage?.dispose();
  });

  it('writes only JSON lines, Nest’s own included', () => {
    expect(written.length).toBeGreaterThan(0);
    for (const chunk of written) expect(chunk.endsWith('\n')).toBe(true);
    const all = lines();
    expect(all.every((line) => typeof line.level === 'string' && typeof line['time'] === 'string')).toBe(true);
    expect(all.some((line) => line['context'] === 'RoutesResolver' || line['context'] === 'RouterExplorer')).toBe(true);
  });

  it('accepts a sane X-Request-Id, replaces anything else, and echoes it', () => {
    expect(requestIds[0]).toBe('client-trace-0001');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(requestIds[4]).toMatch(uuid);
    expect(requestIds[5]).toMatch(uuid);
    expect(new Set(requestIds).size).toBe(requestIds.length);
  });

  it('logs one line per request with its request id, and lines logged while handling one carry it too', () => {
    const completed = lines().filter((line) => line.msg === 'request completed');
    expect(completed.map((line) => line.requestId).sort()).toEqual([...requestIds].sort());
    expect(completed.find((line) => line.requestId === requestIds[1])).toMatchObject({ statusCode: 401, route: '/api/credits/balance', path: '/api/credits/balance' });
    const warning = lines().find((line) => line['context'] === 'stripe-webhook');
    expect(warning).toMatchObject({ level: 'warn', requestId: webhookRequestId });
    expect(warning?.msg).toContain('names no account');
    expect(lines().find((line) => line['context'] === 'http' && line.msg?.startsWith('payment provider'))).toMatchObject({ level: 'warn', requestId: checkoutRequestId });
    // Every line that is about a request (it names a route, a status or a request-scoped logger) has the id.
    const requestScoped = lines().filter((line) => 'statusCode' in line || line['context'] === 'stripe-webhook' || line['context'] === 'http');
    expect(requestScoped.filter((line) => line.requestId === undefined)).toEqual([]);
  });

  it('never writes a token, a secret or a bearer credential', async () => {
    // Even code that logs one by mistake (through Nest's Logger, as our code does) has it scrubbed.
    new Logger('careless').warn(`header was Bearer ${userToken}; secrets ${TEST_JWT_SECRET} ${WEBHOOK_SECRET}`);
    expect(lines().find((line) => line['context'] === 'careless')?.msg).toBe('header was [redacted]; secrets [redacted] [redacted]');
    const everything = written.join('');
    expect(everything).not.toContain(userToken);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
    expect(everything).not.toContain(TEST_JWT_SECRET);
    expect(everything).not.toContain(WEBHOOK_SECRET);
    expect(everything).not.toMatch(/bearer/i);
    expect(everything).not.toContain('access_token');
  });
});
