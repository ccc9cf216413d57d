import request from 'supertest';
import {
  asyncPaymentSucceededEvent,
  chargeRefundedEvent,
  checkoutCompletedEvent,
  factsOf,
  genericEvent,
  signPayload,
  startFakeStripe,
  type FakeStripe,
  type SessionFacts,
} from '../support/fake-stripe';
import { readCheckpoint } from '../../src/projections/checkpoints';
import { countEvents, headPosition, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const WEBHOOK_SECRET = 'whsec_test';
const STARTER = { packageId: 'starter', credits: '100.000', priceCents: 1000, currency: 'usd' } as const;

describe.each(storageTargets())('Stripe purchases over HTTP on %s', (_name, makeStorage) => {
  let fake: FakeStripe;
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let stripeEnv: Record<string, string>;

  beforeAll(async () => {
    fake = await startFakeStripe();
    stripeEnv = { STRIPE_SECRET_KEY: 'sk_test_fake', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE_URL: fake.url };
    storage = await makeStorage();
    ledger = await startLedger(storage, stripeEnv);
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
    await fake?.close();
  });

  const http = () => request(ledger.baseUrl);
  const checkout = (token: string, body: object) =>
    http().post('/api/credits/checkout').set('Authorization', `Bearer ${token}`).send(body);
  /** One webhook delivery: the exact payload bytes, as Stripe sends them. */
  const deliver = (payload: string, signature: string | null = signPayload(payload, WEBHOOK_SECRET)) => {
    const call = http().post('/api/credits/webhook').set('Content-Type', 'application/json');
    return (signature === null ? call : call.set('Stripe-Signature', signature)).send(payload);
  };
  const balanceOf = async (token: string) =>
    (await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${token}`).expect(200))
      .body;
  const transactionsOf = async (token: string) =>
    (await http().get(`/api/credits/transactions?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${token}`).expect(200))
      .body.items as Array<{ type: string; credits: string; balanceAfter: string }>;
  const spend = (token: string, body: object) => http().post('/api/credits/use').set('Authorization', `Bearer ${token}`).send(body);
  const eventsOf = async (type: string, accountId: string): Promise<number> => {
    const [row] = await ledger.sql.query<{ count: string }>(
      `SELECT count(*)::text AS count FROM ledger_events WHERE type = $1 AND data->>'accountId' = $2`,
      [type, accountId],
    );
    return Number(row?.count ?? Number.NaN);
  };
  /** The purchases read model's row for a session, once its projection has caught up with the log. */
  const purchaseRow = async (paymentReference: string) => {
    const head = BigInt(await headPosition(ledger.sql));
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const checkpoint = await readCheckpoint(ledger.sql, 'purchases');
      if (checkpoint !== null && checkpoint >= head) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const [row] = await ledger.sql.query<{ status: string; credits: string; paid_cents: string }>(
      'SELECT status, credits::text AS credits, paid_cents::text AS paid_cents FROM purchases WHERE payment_reference = $1',
      [paymentReference],
    );
    return row;
  };
  /** A checkout through the fake Stripe: the session the SDK created, as facts for its events. */
  const openSession = async (token: string, packageId = 'starter'): Promise<SessionFacts> => {
    const answer = await checkout(token, { packageId }).expect(200);
    const session = fake.sessions.get(answer.body.sessionId);
    if (session === undefined) throw new Error(`the fake Stripe never created ${answer.body.sessionId}`);
    return factsOf(session);
  };
  const buy = async (token: string): Promise<SessionFacts> => {
    const session = await openSession(token);
    await deliver(checkoutCompletedEvent(session)).expect(200);
    return session;
  };
  const refund = (session: SessionFacts, amountRefunded: number) =>
    chargeRefundedEvent({
      id: `ch_for_${session.paymentIntent}`,
      paymentIntent: session.paymentIntent,
      amount: session.amountTotal,
      amountRefunded,
      currency: session.currency,
    });

  it('checkout creates the session with the real SDK; the signed completed event credits 100 for starter', async () => {
    const token = await tokenFor('stripe-alice');
    const answer = await checkout(token, {
      packageId: 'starter',
      successUrl: 'https://app.example.com/paid',
      cancelUrl: 'https://app.example.com/cancelled',
    })
      .set('Idempotency-Key', 'buy-1')
      .expect(200);
    expect(answer.body).toEqual({ sessionId: expect.stringMatching(/^cs_test_\d+$/), checkoutUrl: expect.any(String) });
    expect(answer.body.checkoutUrl).toBe(`https://checkout.stripe.test/c/${answer.body.sessionId}`);

    const sent = fake.sessionCreates().at(-1);
    expect(sent?.headers.authorization).toBe('Bearer sk_test_fake');
    expect(sent?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(sent?.idempotencyKey).toBe('checkout:stripe-alice:buy-1');
    expect(sent?.form).toMatchObject({
      mode: 'payment',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'usd',
      'line_items[0][price_data][unit_amount]': '1000',
      client_reference_id: 'stripe-alice',
      'metadata[accountId]': 'stripe-alice',
      'metadata[packageId]': 'starter',
      'payment_intent_data[metadata][accountId]': 'stripe-alice',
      'payment_intent_data[metadata][packageId]': 'starter',
      success_url: 'https://app.example.com/paid',
      cancel_url: 'https://app.example.com/cancelled',
    });
    expect(sent?.body).toMatchObject({ line_items: { '0': { price_data: { product_data: { name: expect.any(String) } } } } });

    // The same Idempotency-Key reaches Stripe again: the same session, not a second one.
    const again = await checkout(token, {
      packageId: 'starter',
      successUrl: 'https://app.example.com/paid',
      cancelUrl: 'https://app.example.com/cancelled',
    })
      .set('Idempotency-Key', 'buy-1')
      .expect(200);
    expect(again.body.sessionId).toBe(answer.body.sessionId);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000', totalPurchased: '0.000' });

    const session = fake.sessions.get(answer.body.sessionId);
    if (session === undefined) throw new Error('no session');
    const delivered = await deliver(checkoutCompletedEvent(factsOf(session))).expect(200);
    expect(delivered.body).toEqual({ received: true });

    expect(await balanceOf(token)).toMatchObject({ balance: STARTER.credits, available: STARTER.credits, totalPurchased: STARTER.credits });
    const history = await transactionsOf(token);
    expect(history).toEqual([expect.objectContaining({ type: 'purchase', credits: '100.000', balanceAfter: '100.000' })]);
    expect(await purchaseRow(session.id)).toMatchObject({ status: 'credited', credits: '100000', paid_cents: '1000' });
  });

  it('checkout without URLs uses the configured defaults; unknown package 404, bad body 400, no token 401 — and Stripe is never called', async () => {
    const token = await tokenFor('stripe-bert');
    await checkout(token, { packageId: 'pro' }).expect(200);
    const sent = fake.sessionCreates().at(-1);
    expect(sent?.form).toMatchObject({
      'line_items[0][price_data][unit_amount]': '5000',
      'metadata[packageId]': 'pro',
      success_url: ledger.config.checkoutSuccessUrl,
      cancel_url: ledger.config.checkoutCancelUrl,
    });

    const creates = fake.sessionCreates().length;
    expect((await checkout(token, { packageId: 'platinum' }).expect(404)).body.error).toBe('not_found');
    expect((await checkout(token, {}).expect(400)).body.error).toBe('validation_failed');
    expect((await checkout(token, { packageId: 'starter', colour: 'red' }).expect(400)).body.error).toBe('validation_failed');
    expect((await checkout(token, { packageId: 'starter', successUrl: 'javascript:alert(1)' }).expect(400)).body.error).toBe(
      'validation_failed',
    );
    expect((await http().post('/api/credits/checkout').send({ packageId: 'starter' }).expect(401)).body.error).toBe('unauthenticated');
    expect((await checkout(token, { packageId: 'starter', accountId: 'stripe-someone-else' }).expect(403)).body.error).toBe('forbidden');
    expect(fake.sessionCreates()).toHaveLength(creates);

    // A backend acting for an account names it; the session is that account's.
    const service = await tokenFor('billing-backend', 'service');
    await checkout(service, { packageId: 'starter', accountId: 'stripe-bert' }).expect(200);
    expect(fake.sessionCreates().at(-1)?.form).toMatchObject({ client_reference_id: 'stripe-bert', 'metadata[accountId]': 'stripe-bert' });
  });

  it('answers 503 when Stripe fails the session create, appending nothing', async () => {
    const token = await tokenFor('stripe-bert');
    const before = await countEvents(ledger.sql);
    const creates = fake.sessionCreates().length;
    fake.setOutage(true);
    try {
      const refused = await checkout(token, { packageId: 'starter' }).expect(503);
      expect(refused.body).toMatchObject({ error: 'unavailable' });
    } finally {
      fake.setOutage(false);
    }
    expect(fake.sessionCreates().length).toBeGreaterThan(creates);
    expect(await countEvents(ledger.sql)).toBe(before);
  });

  it('credits 20 concurrent deliveries once; async_payment_succeeded, a completed after the refund, and a redelivery after a restart add nothing', async () => {
    const token = await tokenFor('stripe-carl');
    const session = await openSession(token);
    const payload = checkoutCompletedEvent(session);
    const signature = signPayload(payload, WEBHOOK_SECRET);

    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver(payload, signature)));
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000', totalPurchased: '100.000' });
    expect(await eventsOf('CreditsPurchased', 'stripe-carl')).toBe(1);

    const before = await countEvents(ledger.sql);
    await deliver(asyncPaymentSucceededEvent(session)).expect(200);
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });

    await deliver(refund(session, 1000)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });
    const afterRefund = await countEvents(ledger.sql);
    await deliver(payload, signature).expect(200);
    await deliver(checkoutCompletedEvent(session)).expect(200);
    expect(await countEvents(ledger.sql)).toBe(afterRefund);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });

    await ledger.stop();
    ledger = await startLedger(storage, stripeEnv);
    await deliver(payload, signature).expect(200);
    await deliver(asyncPaymentSucceededEvent(session)).expect(200);
    expect(await countEvents(ledger.sql)).toBe(afterRefund);
    expect(await eventsOf('CreditsPurchased', 'stripe-carl')).toBe(1);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000', totalPurchased: '100.000' });
  });

  it('credits nothing for an unpaid session; holds a session whose amount or currency does not match its package for review', async () => {
    const token = await tokenFor('stripe-dora');
    const unpaid = await openSession(token);
    const before = await countEvents(ledger.sql);
    await deliver(checkoutCompletedEvent({ ...unpaid, paymentStatus: 'unpaid' })).expect(200);
    expect(await countEvents(ledger.sql)).toBe(before);

    const cheap = await openSession(token);
    await deliver(checkoutCompletedEvent({ ...cheap, amountTotal: 1 })).expect(200);
    const euros = await openSession(token);
    await deliver(checkoutCompletedEvent({ ...euros, currency: 'eur' })).expect(200);

    expect(await balanceOf(token)).toMatchObject({ balance: '0.000', totalPurchased: '0.000' });
    expect(await eventsOf('CreditsPurchased', 'stripe-dora')).toBe(0);
    expect(await eventsOf('PaymentHeldForReview', 'stripe-dora')).toBe(2);
    expect(await purchaseRow(cheap.id)).toMatchObject({ status: 'held_for_review', credits: '0', paid_cents: '1' });
    expect(await purchaseRow(euros.id)).toMatchObject({ status: 'held_for_review', credits: '0', paid_cents: '1000' });

    // Held once: a redelivery neither credits it nor records it again.
    await deliver(checkoutCompletedEvent({ ...cheap, amountTotal: 1 })).expect(200);
    expect(await eventsOf('PaymentHeldForReview', 'stripe-dora')).toBe(2);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });

    // A delayed payment method: completed unpaid, then async_payment_succeeded credits it, once.
    await deliver(asyncPaymentSucceededEvent(unpaid)).expect(200);
    await deliver(asyncPaymentSucceededEvent(unpaid)).expect(200);
    await deliver(checkoutCompletedEvent(unpaid)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000', totalPurchased: '100.000' });
    expect(await eventsOf('CreditsPurchased', 'stripe-dora')).toBe(1);
  });

  it('acknowledges the refund of a payment held for review without changing the balance (Stripe must not retry it for days)', async () => {
    const token = await tokenFor('stripe-ivo');
    const held = await openSession(token);
    await deliver(checkoutCompletedEvent({ ...held, amountTotal: 1 })).expect(200);
    expect(await eventsOf('PaymentHeldForReview', 'stripe-ivo')).toBe(1);
    const before = await countEvents(ledger.sql);

    // Refunding the odd payment in the Stripe dashboard is the natural resolution of a review.
    const answer = await deliver(refund({ ...held, amountTotal: 1 }, 1));
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { received: true } });
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });
  });

  it("accepts Stripe's own content type, application/json; charset=utf-8", async () => {
    const token = await tokenFor('stripe-jana');
    const session = await openSession(token);
    const payload = checkoutCompletedEvent(session);
    await http()
      .post('/api/credits/webhook')
      .set('Content-Type', 'application/json; charset=utf-8')
      .set('Stripe-Signature', signPayload(payload, WEBHOOK_SECRET))
      .send(payload)
      .expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });
  });

  it('refuses a tampered body, a wrong secret, a stale timestamp and a missing signature with 400, recording nothing; ignores unknown event types', async () => {
    const token = await tokenFor('stripe-emil');
    const session = await openSession(token);
    const payload = checkoutCompletedEvent(session);
    const before = await countEvents(ledger.sql);

    const other = checkoutCompletedEvent({ ...session, id: 'cs_test_other' });
    const refusals = [
      await deliver(payload, signPayload(other, WEBHOOK_SECRET)),
      await deliver(payload.replace('"amount_total":1000', '"amount_total":1001'), signPayload(payload, WEBHOOK_SECRET)),
      await deliver(payload, signPayload(payload, 'whsec_wrong')),
      await deliver(payload, signPayload(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301)),
      await deliver(payload, 'garbage'),
      await deliver(payload, null),
    ];
    expect(refusals.map((refusal) => refusal.status)).toEqual([400, 400, 400, 400, 400, 400]);
    for (const refusal of refusals) expect(refusal.body).toMatchObject({ error: 'validation_failed', message: expect.any(String) });
    expect(await countEvents(ledger.sql)).toBe(before);

    const unknown = await deliver(genericEvent('customer.created', { id: 'cus_1', object: 'customer', metadata: {} })).expect(200);
    expect(unknown.body).toEqual({ received: true });
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });

    // The very same payload, correctly signed and fresh, is accepted.
    await deliver(payload).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });
  });

  it('refund before the credits were spent: half takes 50, the rest takes 50 more, a repeat takes nothing', async () => {
    const token = await tokenFor('stripe-finn');
    const session = await buy(token);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });

    await deliver(refund(session, 500)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '50.000' });
    expect(await purchaseRow(session.id)).toMatchObject({ status: 'partially_refunded' });

    await deliver(refund(session, 1000)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });

    const before = await countEvents(ledger.sql);
    const full = refund(session, 1000);
    await deliver(full).expect(200);
    await deliver(full).expect(200);
    // An older running total arriving late removes nothing either.
    await deliver(refund(session, 500)).expect(200);
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000', totalPurchased: '100.000' });

    const history = await transactionsOf(token);
    expect(history.map(({ type, credits, balanceAfter }) => ({ type, credits, balanceAfter }))).toEqual([
      { type: 'refund', credits: '-50.000', balanceAfter: '0.000' },
      { type: 'refund', credits: '-50.000', balanceAfter: '50.000' },
      { type: 'purchase', credits: '100.000', balanceAfter: '100.000' },
    ]);
    expect(await purchaseRow(session.id)).toMatchObject({ status: 'refunded' });
    // The refund found its account through the PaymentIntent's metadata, read with the SDK.
    expect(fake.requests.some((sent) => sent.method === 'GET' && sent.path === `/v1/payment_intents/${session.paymentIntent}`)).toBe(true);
  });

  it('refund after the credits were spent: the account goes into debt, spends are refused, the next purchase pays the debt first', async () => {
    const token = await tokenFor('stripe-gina');
    const session = await buy(token);
    const used = await spend(token, { service: 'gpt-4', quantity: 1000 }).expect(200);
    expect(used.body).toMatchObject({ charged: '60.000', balance: '40.000' });

    await deliver(refund(session, 1000)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '-60.000' });
    const before = await countEvents(ledger.sql);
    expect((await spend(token, { service: 'sms', quantity: 1 }).expect(402)).body.error).toBe('insufficient_credits');
    expect(await countEvents(ledger.sql)).toBe(before);

    await buy(token);
    expect(await balanceOf(token)).toMatchObject({ balance: '40.000', available: '40.000', totalPurchased: '200.000' });
    await spend(token, { service: 'sms', quantity: 1 }).expect(200);
  });

  it('a refund delivered before its purchase is recorded answers 503 and records nothing; after the purchase it applies', async () => {
    const token = await tokenFor('stripe-hugo');
    const session = await openSession(token);
    const early = refund(session, 1000);
    const signature = signPayload(early, WEBHOOK_SECRET);
    const before = await countEvents(ledger.sql);

    const refused = await deliver(early, signature).expect(503);
    expect(refused.body.error).toBe('unavailable');
    expect(await countEvents(ledger.sql)).toBe(before);

    await deliver(checkoutCompletedEvent(session)).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });
    await deliver(early, signature).expect(200);
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000', totalPurchased: '100.000' });
  });
});

describe.each(storageTargets())('simulated checkout without Stripe keys on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
  });

  const http = () => request(ledger.baseUrl);
  const balanceOf = async (token: string) =>
    (await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${token}`).expect(200))
      .body;

  it('pays on a local page through the same webhook path: 100 credits for starter, once', async () => {
    expect(ledger.config.payments.mode).toBe('simulated');
    const token = await tokenFor('sim-ines');
    const answer = await http()
      .post('/api/credits/checkout')
      .set('Authorization', `Bearer ${token}`)
      .send({ packageId: 'starter', successUrl: 'https://app.example.com/paid' })
      .expect(200);
    expect(answer.body).toEqual({ sessionId: expect.any(String), checkoutUrl: expect.any(String) });
    const checkoutUrl = new URL(answer.body.checkoutUrl);
    expect(checkoutUrl.origin).toBe(ledger.config.publicBaseUrl);
    expect(checkoutUrl.pathname).toBe('/checkout/simulated');
    // The service listens on an ephemeral port here, so the page is reached at its path on the real address.
    const pagePath = `${checkoutUrl.pathname}${checkoutUrl.search}`;

    const page = await http().get(pagePath).expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toMatch(/<form method="post"><button type="submit">Pay 10\.00 USD<\/button><\/form>/);
    expect(page.text).toContain('sim-ines');
    expect(await balanceOf(token)).toMatchObject({ balance: '0.000' });

    const paid = await http().post(pagePath).expect(303);
    expect(paid.headers['location']).toBe('https://app.example.com/paid');
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000', totalPurchased: '100.000' });

    const before = await countEvents(ledger.sql);
    await http().post(pagePath).expect(303);
    expect(await countEvents(ledger.sql)).toBe(before);
    expect(await balanceOf(token)).toMatchObject({ balance: '100.000' });

    const token2 = checkoutUrl.searchParams.get('session') ?? '';
    const [body, mac] = token2.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body ?? '', 'base64url').toString()), accountId: 'sim-mallory' }),
    ).toString('base64url');
    for (const bad of [`${forged}.${mac}`, `${body}.${mac}x`, 'nonsense', '']) {
      expect((await http().get(`/checkout/simulated?session=${encodeURIComponent(bad)}`).expect(404)).body.error).toBe('not_found');
      await http().post(`/checkout/simulated?session=${encodeURIComponent(bad)}`).expect(404);
    }
    expect(await countEvents(ledger.sql)).toBe(before);
  });

  it('refuses webhooks that were not signed with this installation\'s simulated secret', async () => {
    const payload = genericEvent('checkout.session.completed', {
      id: 'cs_forged',
      object: 'checkout.session',
      payment_status: 'paid',
      amount_total: 1000,
      currency: 'usd',
      client_reference_id: 'sim-mallory',
      metadata: { accountId: 'sim-mallory', packageId: 'starter' },
      payment_intent: 'pi_forged',
    });
    const before = await countEvents(ledger.sql);
    const refused = await http()
      .post('/api/credits/webhook')
      .set('Content-Type', 'application/json')
      .set('Stripe-Signature', signPayload(payload, WEBHOOK_SECRET))
      .send(payload)
      .expect(400);
    expect(refused.body.error).toBe('validation_failed');
    expect(await countEvents(ledger.sql)).toBe(before);
  });
});
