import type { TestDatabase } from '../support/databases';
import { chargeRefundedEvent, checkoutCompletedEvent, factsOf, signPayload, startFakeStripe, type FakeStripe, type SessionFacts } from '../support/fake-stripe';
import { call, waitFor } from './support/http';
import { countLog, readLog } from './support/ledger-log';
import { mint, RELIABILITY_WEBHOOK_SECRET, saveOutput, secretsInOutput, serviceOutput, ServiceProcess } from './support/service-process';
import { freshSharedDatabase } from './support/shared-database';

/**
 * Stripe webhooks against the real process: duplicate deliveries at once, refunds before
 * their purchase, secret rotation (several v1 signatures) and replayed old deliveries.
 * Events are signed with the Stripe SDK's own generateTestHeaderString.
 */
describe('Stripe webhooks', () => {
  let fake: FakeStripe;
  let database: TestDatabase & { url: string };
  let service: ServiceProcess;
  let twin: ServiceProcess;

  beforeAll(async () => {
    fake = await startFakeStripe();
    database = await freshSharedDatabase();
    const env = { DATABASE_URL: database.url, STRIPE_API_BASE_URL: fake.url };
    service = await ServiceProcess.create(env);
    await service.start();
    twin = await ServiceProcess.create(env);
    await twin.start();
  });

  afterAll(async () => {
    await service?.stop();
    await twin?.stop();
    await database?.drop();
    await fake?.close();
    saveOutput('webhooks');
  });

  const deliver = (payload: string, signature: string, to: ServiceProcess = service) =>
    call(to.baseUrl, 'POST', '/api/credits/webhook', { raw: payload, headers: { 'stripe-signature': signature, 'content-type': 'application/json' }, timeoutMs: 60_000 });
  const openSession = async (accountId: string): Promise<SessionFacts> => {
    const answer = await call(service.baseUrl, 'POST', '/api/credits/checkout', { token: await mint(accountId), body: { packageId: 'starter' } });
    expect(answer.status).toBe(200);
    const session = fake.sessions.get(answer.json.sessionId);
    if (session === undefined) throw new Error(`no session ${answer.json.sessionId}`);
    return factsOf(session);
  };
  const eventsOf = async (accountId: string, type: string): Promise<number> =>
    (await readLog(database.url)).filter((event) => event.streamId === `credit-account-${accountId}` && event.type === type).length;
  const balanceOf = async (accountId: string, expected: string): Promise<void> => {
    const token = await mint(accountId);
    let seen = '';
    await waitFor(
      `${accountId}'s balance to be ${expected}`,
      async () => {
        const answer = await call(service.baseUrl, 'GET', '/api/credits/balance', { token });
        seen = answer.text;
        return answer.json?.balance === expected;
      },
      30_000,
      () => seen,
    );
  };

  it('50 concurrent duplicate deliveries of checkout.session.completed credit the package once', async () => {
    const session = await openSession('hook-dup');
    const payload = checkoutCompletedEvent(session);
    const signature = signPayload(payload, RELIABILITY_WEBHOOK_SECRET);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => deliver(payload, signature, index % 2 === 0 ? service : twin)));
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(await eventsOf('hook-dup', 'CreditsPurchased')).toBe(1);
    await balanceOf('hook-dup', '100.000');
  });

  it('a refund delivered before its purchase is retried by Stripe and then applied once, after the purchase', async () => {
    const session = await openSession('hook-order');
    const refund = chargeRefundedEvent({ id: 'ch_order_1', paymentIntent: session.paymentIntent, amount: 1000, amountRefunded: 1000, currency: 'usd' });
    const early = await deliver(refund, signPayload(refund, RELIABILITY_WEBHOOK_SECRET));
    expect(early.status).toBe(503);
    expect(await eventsOf('hook-order', 'CreditsRefunded')).toBe(0);
    const completed = checkoutCompletedEvent(session);
    expect((await deliver(completed, signPayload(completed, RELIABILITY_WEBHOOK_SECRET))).status).toBe(200);
    // Stripe's retry of the refund, twice over.
    expect((await deliver(refund, signPayload(refund, RELIABILITY_WEBHOOK_SECRET))).status).toBe(200);
    expect((await deliver(refund, signPayload(refund, RELIABILITY_WEBHOOK_SECRET), twin)).status).toBe(200);
    // And the purchase delivered once more, late: still one purchase.
    expect((await deliver(completed, signPayload(completed, RELIABILITY_WEBHOOK_SECRET))).status).toBe(200);
    expect(await eventsOf('hook-order', 'CreditsPurchased')).toBe(1);
    expect(await eventsOf('hook-order', 'CreditsRefunded')).toBe(1);
    await balanceOf('hook-order', '0.000');
  });

  it('accepts a Stripe-Signature with several v1 signatures when one of them is valid (secret rotation)', async () => {
    const session = await openSession('hook-rotate');
    const payload = checkoutCompletedEvent(session);
    const timestamp = Math.floor(Date.now() / 1000);
    const v1 = (secret: string) => /v1=([0-9a-f]+)/.exec(signPayload(payload, secret, timestamp))?.[1] ?? '';
    const old1 = v1('whsec_retired_secret_one');
    const old2 = v1('whsec_retired_secret_two');
    const before = await countLog(database.url);
    const allInvalid = await deliver(payload, `t=${timestamp},v1=${old1},v1=${old2}`);
    expect(allInvalid.status).toBe(400);
    expect(await countLog(database.url)).toBe(before);
    const rotated = await deliver(payload, `t=${timestamp},v1=${old1},v1=${v1(RELIABILITY_WEBHOOK_SECRET)},v1=${old2}`);
    expect(rotated.status).toBe(200);
    expect(await eventsOf('hook-rotate', 'CreditsPurchased')).toBe(1);
    await balanceOf('hook-rotate', '100.000');
  });

  it('refuses deliveries signed more than 300 s ago with 400 and records nothing', async () => {
    const session = await openSession('hook-replay');
    const payload = checkoutCompletedEvent(session);
    const now = Math.floor(Date.now() / 1000);
    const before = await countLog(database.url);
    for (const age of [301, 600, 86_400]) {
      const answer = await deliver(payload, signPayload(payload, RELIABILITY_WEBHOOK_SECRET, now - age));
      expect(answer.status).toBe(400);
      expect(answer.json?.error).toBe('validation_failed');
    }
    expect(await countLog(database.url)).toBe(before);
    // Within the tolerance the same delivery is accepted: the refusal was about age alone.
    expect((await deliver(payload, signPayload(payload, RELIABILITY_WEBHOOK_SECRET, now - 120))).status).toBe(200);
    expect(await eventsOf('hook-replay', 'CreditsPurchased')).toBe(1);
  });

  it('never crashed', () => {
    expect(service.unexpectedExits).toBe(0);
    expect(twin.unexpectedExits).toBe(0);
  });

  it('printed none of the tokens, secrets or Authorization headers it was given', () => {
    // Something was printed (requests are logged), and none of it is a secret.
    expect(serviceOutput().length).toBeGreaterThan(1000);
    expect(secretsInOutput()).toEqual([]);
  });
});
