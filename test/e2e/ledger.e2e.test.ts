import { SignJWT } from 'jose';
import request from 'supertest';
import { countEvents, headPosition, startLedger, storageTargets, TEST_JWT_SECRET, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

describe.each(storageTargets())('ledger over HTTP on %s', (name, makeStorage) => {
  // PGlite is one process's embedded database: a second instance needs a real server.
  const itWithTwoInstances = name === 'postgres' ? it : it.skip;
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let admin: string;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
    admin = await tokenFor('ops-admin', 'admin');
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  const http = () => request(ledger.baseUrl);
  const grant = (accountId: string, credits: string) =>
    http().post(`/api/admin/accounts/${accountId}/grants`).set('Authorization', `Bearer ${admin}`).send({ credits, reason: 'test' });
  const spend = (token: string, body: object) =>
    http().post('/api/credits/use').set('Authorization', `Bearer ${token}`).send(body);
  /** The balance once the read model has applied everything appended so far. */
  const balanceOf = async (token: string) =>
    (await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${token}`).expect(200)).body;

  it('grants 100, charges gpt-4 × 1500 tokens 90 credits, and refuses 11 more with 402 and no event', async () => {
    const alice = await tokenFor('alice');
    await grant('alice', '100').expect(201);

    const used = await spend(alice, { service: 'gpt-4', quantity: 1500 }).expect(200);
    expect(used.body).toMatchObject({ service: 'gpt-4', quantity: 1500, charged: '90.000', balance: '10.000', available: '10.000' });
    expect(used.body.position).toEqual(expect.any(Number));

    const before = await countEvents(ledger.sql);
    const refused = await spend(alice, { service: 'sms', quantity: 11 }).expect(402);
    expect(refused.body).toEqual({
      error: 'insufficient_credits',
      message: expect.any(String),
      required: '11.000',
      available: '10.000',
    });
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(alice)).toMatchObject({ balance: '10.000', available: '10.000', totalUsed: '90.000' });
  });

  it('lets exactly 20 of 50 concurrent 1-credit spends through on an account holding 20', async () => {
    const bob = await tokenFor('bob');
    await grant('bob', '20').expect(201);

    const answers = await Promise.all(Array.from({ length: 50 }, () => spend(bob, { service: 'sms', quantity: 1 })));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(20);
    expect(statuses.filter((status) => status === 402)).toHaveLength(30);
    expect(await balanceOf(bob)).toMatchObject({ balance: '0.000', available: '0.000', totalUsed: '20.000' });
  });

  itWithTwoInstances('keeps two service instances on one store correct: conflicts are retried, never double-spent', async () => {
    const second = await startLedger(storage);
    try {
      const ivan = await tokenFor('ivan');
      await grant('ivan', '20').expect(201);
      // A client retries a 503 (busy with concurrent writes), as API.md says it safely may.
      const spendRetrying = async (baseUrl: string) => {
        for (let attempt = 1; ; attempt += 1) {
          const answer = await request(baseUrl).post('/api/credits/use').set('Authorization', `Bearer ${ivan}`).send({ service: 'sms', quantity: 1 });
          if (answer.status !== 503 || attempt === 5) return answer;
        }
      };
      const answers = await Promise.all(Array.from({ length: 40 }, (_, index) => spendRetrying(index % 2 === 0 ? ledger.baseUrl : second.baseUrl)));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(20);
      expect(statuses.filter((status) => status === 402)).toHaveLength(20);
      expect(await balanceOf(ivan)).toMatchObject({ balance: '0.000', totalUsed: '20.000' });
    } finally {
      await second.stop();
    }
  });

  it('replays the same Idempotency-Key byte for byte and refuses it with another body', async () => {
    const carol = await tokenFor('carol');
    await grant('carol', '50').expect(201);
    const first = await spend(carol, { service: 'sms', quantity: 2 }).set('Idempotency-Key', 'order-17').expect(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const eventsAfterFirst = await countEvents(ledger.sql);

    const again = await spend(carol, { quantity: 2, service: 'sms' }).set('Idempotency-Key', 'order-17').expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);

    const reused = await spend(carol, { service: 'sms', quantity: 3 }).set('Idempotency-Key', 'order-17').expect(409);
    expect(reused.body.error).toBe('idempotency_key_reused');
    expect(await countEvents(ledger.sql)).toBe(eventsAfterFirst);
    expect(await balanceOf(carol)).toMatchObject({ balance: '48.000' });
  });

  it('scopes Idempotency-Keys per account', async () => {
    const [dave, erin] = await Promise.all([tokenFor('dave'), tokenFor('erin')]);
    await grant('dave', '5').expect(201);
    await grant('erin', '5').expect(201);
    await spend(dave, { service: 'sms', quantity: 1 }).set('Idempotency-Key', 'shared-key').expect(200);
    const other = await spend(erin, { service: 'sms', quantity: 1 }).set('Idempotency-Key', 'shared-key').expect(200);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(await balanceOf(erin)).toMatchObject({ balance: '4.000' });
  });

  it('answers 401 without a valid token, 403 across accounts or roles, 400 on a malformed body — appending nothing', async () => {
    const alice = await tokenFor('alice');
    const auditor = await tokenFor('auditor-1', 'auditor');
    const before = await countEvents(ledger.sql);

    expect((await http().post('/api/credits/use').send({ service: 'sms', quantity: 1 }).expect(401)).body.error).toBe('unauthenticated');
    expect((await spend(await tokenFor('alice', 'user', { expiresIn: '-1s' }), { service: 'sms', quantity: 1 }).expect(401)).body.error).toBe(
      'unauthenticated',
    );
    expect((await spend(await tokenFor('alice', 'user', { secret: 'another-secret-of-sufficient-length-000000' }), { service: 'sms', quantity: 1 }).expect(401)).body.error).toBe(
      'unauthenticated',
    );
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: 'alice', role: 'admin', exp: Math.floor(Date.now() / 1000) + 600 }),
    ).toString('base64url')}.`;
    await spend(unsigned, { service: 'sms', quantity: 1 }).expect(401);
    expect((await spend(await tokenFor('alice', 'superuser'), { service: 'sms', quantity: 1 }).expect(403)).body.error).toBe('forbidden');

    expect((await spend(alice, { service: 'sms', quantity: 1, accountId: 'bob' }).expect(403)).body.error).toBe('forbidden');
    await http().get('/api/credits/balance?accountId=bob').set('Authorization', `Bearer ${alice}`).expect(403);
    await spend(auditor, { service: 'sms', quantity: 1, accountId: 'alice' }).expect(403);
    await http().post('/api/admin/accounts/alice/grants').set('Authorization', `Bearer ${alice}`).send({ credits: '5', reason: 'self-service' }).expect(403);

    for (const body of [
      { service: 'sms' },
      { service: 'sms', quantity: 0 },
      { service: 'sms', quantity: -1 },
      { service: 'sms', quantity: 1.5 },
      { service: 'sms', quantity: '1' },
      { service: 'sms', quantity: 2 ** 53 },
      { service: 'teleportation', quantity: 1 },
      { service: 'sms', quantity: 1, surprise: true },
    ]) {
      const answer = await spend(alice, body).expect(400);
      expect(answer.body).toMatchObject({ error: 'validation_failed', fields: expect.any(Array) });
    }
    await http()
      .post('/api/credits/use')
      .set('Authorization', `Bearer ${alice}`)
      .set('Content-Type', 'application/json')
      .send('{"service": "sms",')
      .expect(400);
    await spend(alice, { service: 'sms', quantity: 1 }).set('Idempotency-Key', 'x'.repeat(256)).expect(400);
    expect((await spend(alice, { service: 'sms', quantity: 1, metadata: { note: 'x'.repeat(70_000) } }).expect(413)).body.error).toBe(
      'payload_too_large',
    );
    expect(await countEvents(ledger.sql)).toBe(before);
  });

  it('refuses text Postgres cannot store, odd paths and numeric subjects with 4xx, appending nothing', async () => {
    const alice = await tokenFor('alice');
    const before = await countEvents(ledger.sql);
    const raw = (path: string, body: string, token = admin) =>
      http().post(path).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(body);
    expect((await raw('/api/credits/use', '{"service":"sms","quantity":1,"metadata":{"note":"x\\u0000y"}}', alice).expect(400)).body.error).toBe(
      'validation_failed',
    );
    await raw('/api/credits/use', '{"service":"sms","quantity":1,"metadata":{"note":"\\ud800"}}', alice).expect(400);
    await raw('/api/admin/accounts/alice/grants', '{"credits":"1","reason":"bad\\u0000"}').expect(400);
    await raw('/api/admin/accounts/alice/grants', '{"credits":"1","reason":"far","expiresAt":"+010000-01-01T00:00:00Z"}').expect(400);
    expect((await raw('/api/admin/accounts/al%ZZice/grants', '{"credits":"1","reason":"r"}').expect(400)).body.error).toBe('validation_failed');

    const forged = await new SignJWT({ sub: 123 } as unknown as Record<string, unknown>)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    await http().get('/api/credits/balance').set('Authorization', `Bearer ${forged}`).expect(401);
    expect(await countEvents(ledger.sql)).toBe(before);
  });

  it('takes account ids up to 128 characters in paths and a lower-case bearer scheme', async () => {
    const longId = `acct-${'x'.repeat(123)}`;
    expect(longId).toHaveLength(128);
    await grant(longId, '3').expect(201);
    const owner = await tokenFor(longId);
    const seen = await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `bearer ${owner}`).expect(200);
    expect(seen.body).toMatchObject({ accountId: longId, balance: '3.000' });
  });

  it('stops counting a grant once it has expired, in the balance and for spending', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const kim = await tokenFor('kim');
    await http().post('/api/admin/accounts/kim/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '20', reason: 'trial', expiresAt }).expect(201);
    expect(await balanceOf(kim)).toMatchObject({ balance: '20.000', available: '20.000', expiringWithin7Days: '20.000' });
    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 50));
    expect(await balanceOf(kim)).toMatchObject({ balance: '0.000', available: '0.000', lowBalance: true });
    expect((await spend(kim, { service: 'sms', quantity: 1 }).expect(402)).body).toMatchObject({ available: '0.000' });
  });

  it('lets a service act for a named account and an auditor read any balance', async () => {
    const service = await tokenFor('billing-backend', 'service');
    const auditor = await tokenFor('auditor-1', 'auditor');
    await grant('frank', '10').expect(201);
    await spend(service, { service: 'ai_response', quantity: 2 }).expect(400);
    const used = await spend(service, { service: 'ai_response', quantity: 2, accountId: 'frank' }).expect(200);
    expect(used.body.charged).toBe('4.000');
    const seen = await http()
      .get(`/api/credits/balance?accountId=frank&minPosition=${used.body.position}`)
      .set('Authorization', `Bearer ${auditor}`)
      .expect(200);
    expect(seen.body).toMatchObject({ accountId: 'frank', balance: '6.000', totalGranted: '10.000', totalUsed: '4.000' });
  });

  it('records signed adjustments with the admin and refuses one that would overdraw', async () => {
    await grant('gina', '10').expect(201);
    const adjust = (credits: string) =>
      http().post('/api/admin/accounts/gina/adjustments').set('Authorization', `Bearer ${admin}`).send({ credits, reason: 'correction' });
    expect((await adjust('2.500').expect(201)).body).toMatchObject({ credits: '2.500', adjustedBy: 'ops-admin', balance: '12.500' });
    expect((await adjust('-4').expect(201)).body).toMatchObject({ credits: '-4.000', balance: '8.500' });
    expect((await adjust('-9').expect(402)).body).toMatchObject({ error: 'insufficient_credits', required: '9.000', available: '8.500' });
    await adjust('0').expect(400);
  });

  it('forecasts from the last hour of spending: burn rate and when available reaches zero', async () => {
    const yuri = await tokenFor('yuri');
    await grant('yuri', '100').expect(201);
    expect(await balanceOf(yuri)).toMatchObject({ burnRatePerHour: '0.000', estimatedDepletionAt: null });
    await spend(yuri, { service: 'bundle_creation', quantity: 1 }).expect(200);
    const before = Date.now();
    const balance = await balanceOf(yuri);
    // 50 credits spent in the last hour, 50 left: about an hour to go.
    expect(balance).toMatchObject({ burnRatePerHour: '50.000', available: '50.000' });
    const hoursLeft = (Date.parse(balance.estimatedDepletionAt) - before) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(0.99);
    expect(hoursLeft).toBeLessThan(1.01);
  });

  it('shows a never-seen account as all zeros, and serves the rate card and packages', async () => {
    const nobody = await tokenFor('never-seen');
    expect(await balanceOf(nobody)).toMatchObject({ accountId: 'never-seen', balance: '0.000', available: '0.000', position: 0 });
    const pricing = await http().get('/api/credits/pricing').set('Authorization', `Bearer ${nobody}`).expect(200);
    expect(pricing.body.services).toContainEqual({ service: 'gpt-4', unit: 'token', credits: '60.000', per: 1000, description: expect.any(String) });
    const packages = await http().get('/api/credits/packages').set('Authorization', `Bearer ${nobody}`).expect(200);
    expect(packages.body).toEqual([
      { id: 'starter', name: 'Starter', credits: '100.000', priceCents: 1000, currency: 'usd' },
      { id: 'pro', name: 'Pro', credits: '500.000', priceCents: 5000, currency: 'usd' },
      { id: 'enterprise', name: 'Enterprise', credits: '1000.000', priceCents: 10000, currency: 'usd' },
    ]);
    await http().get('/api/credits/nothing-here').set('Authorization', `Bearer ${nobody}`).expect(404);
    expect((await http().get('/health').expect(200)).body).toMatchObject({ status: 'ok', eventStore: 'ok', readModel: 'ok' });
  });

  it('loses nothing across a restart', async () => {
    const henry = await tokenFor('henry');
    await grant('henry', '30').expect(201);
    const used = await spend(henry, { service: 'document_upload', quantity: 1 }).set('Idempotency-Key', 'upload-1').expect(200);
    const before = await balanceOf(henry);

    await ledger.stop();
    ledger = await startLedger(storage);

    // Everything but the forecast, which moves with the clock.
    const { estimatedDepletionAt: _then, ...rest } = before;
    const { estimatedDepletionAt: _now, ...restAfter } = await balanceOf(henry);
    expect(restAfter).toEqual(rest);
    const replay = await spend(henry, { service: 'document_upload', quantity: 1 }).set('Idempotency-Key', 'upload-1').expect(200);
    expect(replay.text).toBe(used.text);
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });
});
