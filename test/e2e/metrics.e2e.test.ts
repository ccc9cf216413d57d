import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { checkoutCompletedEvent, genericEvent, signPayload } from '../support/fake-stripe';
import { startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const WEBHOOK_SECRET = 'whsec_metrics_test_secret';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
const parseExposition = (text: string): Sample[] =>
  text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`not an exposition line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
      return { name: match[1] ?? '', labels, value: Number(match[3]) };
    });

describe.each(storageTargets())('Prometheus metrics on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let exposition: string;
  let samples: Sample[];
  const accountId = `metrics-${randomUUID()}`;

  const valueOf = (name: string, labels: Record<string, string>): number | undefined =>
    samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))?.value;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage, { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET });
    const http = () => request(ledger.baseUrl);
    const admin = await tokenFor('ops', 'admin');
    const user = await tokenFor(accountId);

    await http()
      .post(`/api/admin/accounts/${accountId}/grants`)
      .set('Authorization', `Bearer ${admin}`)
      .send({ credits: '10', reason: 'metrics test' })
      .expect(201);
    const spend = () => http().post('/api/credits/use').set('Authorization', `Bearer ${user}`).set('Idempotency-Key', 'metrics-spend-1');
    await spend().send({ service: 'sms', quantity: 2 }).expect(200);
    await spend().send({ service: 'sms', quantity: 2 }).expect(200).expect('Idempotent-Replayed', 'true');
    await http().post('/api/credits/use').set('Authorization', `Bearer ${user}`).send({ service: 'sms', quantity: 1000 }).expect(402);
    await http().get(`/api/no-such-route/${accountId}`).set('Authorization', `Bearer ${user}`).expect(404);

    const deliver = (payload: string, signature: string) =>
      http().post('/api/credits/webhook').set('Content-Type', 'application/json').set('Stripe-Signature', signature).send(payload);
    const paid = checkoutCompletedEvent({ id: `cs_test_${randomUUID()}`, accountId, packageId: 'starter', amountTotal: 1000, currency: 'usd', paymentIntent: `pi_${randomUUID()}` });
    await deliver(paid, signPayload(paid, WEBHOOK_SECRET)).expect(200);
    const unknownType = genericEvent('customer.created', { id: 'cus_1', object: 'customer' });
    await deliver(unknownType, signPayload(unknownType, WEBHOOK_SECRET)).expect(200);
    await deliver(unknownType, signPayload(unknownType, 'whsec_someone_else')).expect(400);

    const scrape = await http().get('/metrics').expect(200);
    expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    exposition = scrape.text;
    samples = parseExposition(exposition);
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
  });

  it('is public and carries the default process metrics', () => {
    expect(valueOf('process_cpu_user_seconds_total', {})).toBeGreaterThan(0);
    expect(valueOf('nodejs_heap_size_used_bytes', {})).toBeGreaterThan(0);
  });

  it('counts commands by type and outcome, with the code of a refusal', () => {
    const commands = (labels: Record<string, string>) => valueOf('ledger_commands_total', labels);
    expect(commands({ type: 'GrantCredits', outcome: 'accepted', code: '' })).toBe(1);
    expect(commands({ type: 'UseCredits', outcome: 'accepted', code: '' })).toBe(1);
    expect(commands({ type: 'UseCredits', outcome: 'replayed', code: '' })).toBe(1);
    expect(commands({ type: 'UseCredits', outcome: 'rejected', code: 'insufficient_credits' })).toBe(1);
    expect(commands({ type: 'RecordPurchase', outcome: 'accepted', code: '' })).toBe(1);
  });

  it('times requests by route pattern, method and status, never by raw URL', () => {
    const requests = (labels: Record<string, string>) => valueOf('http_request_duration_seconds_count', labels);
    expect(requests({ method: 'POST', route: '/api/credits/use', status_code: '200' })).toBe(2);
    expect(requests({ method: 'POST', route: '/api/credits/use', status_code: '402' })).toBe(1);
    expect(requests({ method: 'POST', route: '/api/admin/accounts/:accountId/grants', status_code: '201' })).toBe(1);
    expect(requests({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(requests({ method: 'POST', route: '/api/credits/webhook', status_code: '400' })).toBe(1);
    expect(valueOf('http_request_duration_seconds_bucket', { route: '/api/credits/use', status_code: '200', le: '+Inf' })).toBe(2);
    expect(exposition).not.toContain(accountId);
  });

  it('times event-store appends', () => {
    const appended = samples.filter((sample) => sample.name === 'ledger_event_store_append_duration_seconds_count' && sample.labels['outcome'] === 'ok');
    // grant, spend, purchase: three appends at least (however the store batches them).
    expect(appended.reduce((sum, sample) => sum + sample.value, 0)).toBeGreaterThanOrEqual(1);
    expect(samples.some((sample) => sample.name === 'ledger_event_store_append_duration_seconds_bucket' && sample.labels['le'] === '0.005')).toBe(true);
  });

  it('counts Stripe webhook deliveries by event type and outcome', () => {
    const webhooks = (labels: Record<string, string>) => valueOf('ledger_stripe_webhooks_total', labels);
    expect(webhooks({ event_type: 'checkout.session.completed', outcome: 'processed' })).toBe(1);
    expect(webhooks({ event_type: 'other', outcome: 'ignored' })).toBe(1);
    expect(webhooks({ event_type: 'unverified', outcome: 'invalid' })).toBe(1);
  });

  it('reports the lag of every projection, read at scrape time', () => {
    for (const projection of ['balances', 'transactions', 'usage_daily', 'purchases']) {
      expect({ projection, events: valueOf('ledger_projection_lag_events', { projection }) }).toEqual({ projection, events: expect.any(Number) });
      expect(valueOf('ledger_projection_lag_seconds', { projection })).toBeGreaterThanOrEqual(0);
    }
  });
});
