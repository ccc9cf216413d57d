import {
  createLedgerClient,
  isLedgerApiError,
  LedgerApiError,
  LedgerNetworkError,
  type AttemptReport,
  type Balance,
  type LedgerClient,
  type LowBalanceAlert,
  type Transaction,
} from '../../client/src/index';
import { freePort, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';
import { eventually } from '../support/read-models';
import { expectFieldsOf } from './support/fields';
import { TcpProxy } from './support/tcp-proxy';

const eventsOfType = async (ledger: RunningLedger, type: string, accountId: string): Promise<number> => {
  const [row] = await ledger.sql.query<{ count: string }>(
    'SELECT count(*)::text AS count FROM ledger_events WHERE type = $1 AND stream_id = $2',
    [type, `credit-account-${accountId}`],
  );
  return Number(row?.count);
};

const caught = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => 'no error', (error: unknown) => error);

describe.each(storageTargets())('the typed client against the service on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let proxy: TcpProxy;
  let proxyUrl: string;
  let backend: LedgerClient;
  const quickRetry = { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 };

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
    proxy = new TcpProxy(Number(new URL(ledger.baseUrl).port));
    proxyUrl = await proxy.start();
    backend = createLedgerClient({ baseUrl: ledger.baseUrl, token: await tokenFor('billing', 'service') });
  });

  afterAll(async () => {
    await proxy.stop();
    await ledger.stop();
    await storage.dispose();
  });

  const grant = async (accountId: string, credits: string): Promise<number> => {
    const response = await fetch(`${ledger.baseUrl}/api/admin/accounts/${accountId}/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor('ops', 'admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credits, reason: 'client test' }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { position: number }).position;
  };

  const userClient = async (accountId: string, baseUrl = ledger.baseUrl, reports?: AttemptReport[]) =>
    createLedgerClient({
      baseUrl,
      token: await tokenFor(accountId),
      retry: quickRetry,
      ...(reports === undefined ? {} : { onAttempt: (report: AttemptReport) => void reports.push(report) }),
    });

  it('reads a balance, spends, and prices hasEnoughCredits exactly as the service charges', async () => {
    const client = await userClient('cleo');
    const empty = await client.getBalance();
    expectFieldsOf('Balance', empty);
    // A new account is below the default threshold of 10 credits.
    expect(empty).toMatchObject({ accountId: 'cleo', balance: '0.000', available: '0.000', lowBalance: true });

    const position = await grant('cleo', '10');
    expect(await client.getBalance({ minPosition: position })).toMatchObject({ balance: '10.000', available: '10.000' });
    // gpt-4: 60 credits per 1000 tokens. 166 tokens cost 9.960, 167 cost 10.020.
    expect(await client.estimate('gpt-4', 167)).toMatchObject({ credits: '10.020', millicredits: 10_020n });
    expect(await client.hasEnoughCredits('gpt-4', 166)).toBe(true);
    expect(await client.hasEnoughCredits('gpt-4', 167)).toBe(false);
    const refused = await caught(client.use('gpt-4', 167));
    expect(isLedgerApiError(refused, 'insufficient_credits')).toBe(true);
    expect(refused).toMatchObject({ status: 402, details: { required: '10.020', available: '10.000' } });

    // voice_call: 1 credit per 60 seconds, rounded up to the millicredit.
    const estimate = await client.estimate('voice_call', 61);
    const spent = await client.use('voice_call', 61, { metadata: { call: 'c-1' } });
    expectFieldsOf('UseCreditsResult', spent);
    expect(spent).toMatchObject({ service: 'voice_call', quantity: 61, charged: estimate.credits, balance: '8.983', available: '8.983' });
    expect(await client.getBalance({ minPosition: spent.position })).toMatchObject({ balance: '8.983', totalUsed: '1.017' });
  });

  it('holds, captures and releases reservations', async () => {
    const client = await userClient('dora');
    await grant('dora', '20');
    const held = await client.reserve('voice_call', 300, { ttlSeconds: 60 });
    expectFieldsOf('Reservation', held);
    expect(held).toMatchObject({ reserved: '5.000', balance: '20.000', available: '15.000' });
    const captured = await client.capture(held.reservationId, 120);
    expectFieldsOf('CaptureResult', captured);
    expect(captured).toMatchObject({ charged: '2.000', released: '3.000', balance: '18.000', available: '18.000' });

    const second = await client.reserve('sms', 3);
    const released = await client.release(second.reservationId);
    expectFieldsOf('ReleaseResult', released);
    expect(released).toMatchObject({ released: '3.000', available: '18.000' });
    const closed = await caught(client.capture(second.reservationId, 1));
    expect(closed).toBeInstanceOf(LedgerApiError);
    expect(closed).toMatchObject({ code: 'reservation_closed', status: 409, details: { status: 'released' } });
  });

  it('lists the open reservations, typed, for the own account or the one a service names', async () => {
    const client = await userClient('dina');
    await grant('dina', '20');
    expect(await client.listReservations()).toEqual({ items: [] });
    const long = await client.reserve('voice_call', 60, { ttlSeconds: 600 });
    const short = await backend.reserve('sms', 2, { accountId: 'dina', ttlSeconds: 60 });
    const listed = await client.listReservations();
    expectFieldsOf('OpenReservations', listed);
    for (const item of listed.items) expectFieldsOf('OpenReservation', item);
    expect(listed.items).toEqual([
      { reservationId: short.reservationId, service: 'sms', reserved: '2.000', expiresAt: short.expiresAt },
      { reservationId: long.reservationId, service: 'voice_call', reserved: '1.000', expiresAt: long.expiresAt },
    ]);
    await client.release(short.reservationId);
    const after = await backend.listReservations({ accountId: 'dina', minPosition: short.position });
    expect(after.items.map((item) => item.reservationId)).toEqual([long.reservationId]);
    const refused = await caught(client.listReservations({ accountId: 'someone-else' }));
    expect(refused).toMatchObject({ code: 'forbidden', status: 403 });
  });

  it('opens a checkout, reads the catalog and sets the alert threshold', async () => {
    const client = await userClient('ezra');
    const session = await client.checkout('starter', { successUrl: 'http://127.0.0.1:1/done' });
    expectFieldsOf('CheckoutSession', session);
    expect(session.checkoutUrl).toContain('/checkout/simulated?session=');
    const missing = await caught(client.checkout('platinum'));
    expect(missing).toMatchObject({ code: 'not_found', status: 404 });

    const packages = await client.getPackages();
    expect(packages.map((pkg) => pkg.id)).toEqual(['starter', 'pro', 'enterprise']);
    for (const pkg of packages) expectFieldsOf('CreditPackage', pkg);
    const card = await client.getPricing();
    expectFieldsOf('RateCard', card);
    for (const rate of card.services) expectFieldsOf('ServiceRate', rate);
    expect(card.services.find((rate) => rate.service === 'gpt-4')).toMatchObject({ credits: '60.000', per: 1000 });

    const settings = await client.setLowBalanceThreshold('5');
    expectFieldsOf('AlertSettings', settings);
    expect(settings.lowBalanceThreshold).toBe('5.000');
  });

  it('walks the whole history with the async iterator, following nextCursor, and filters by type', async () => {
    const client = await userClient('fern');
    await grant('fern', '50');
    let last = 0;
    for (let spend = 1; spend <= 5; spend += 1) last = (await client.use('sms', spend)).position;
    const page = await client.getTransactions({ limit: 2, minPosition: last });
    expectFieldsOf('TransactionPage', page);
    expect(page.items).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
    for (const item of page.items) expectFieldsOf('Transaction', item, { exact: false });

    const seen: Transaction[] = [];
    for await (const item of client.transactions({ pageSize: 2 })) seen.push(item);
    expect(seen.map((item) => item.credits)).toEqual(['-5.000', '-4.000', '-3.000', '-2.000', '-1.000', '50.000']);
    const usage: Transaction[] = [];
    for await (const item of client.transactions({ type: 'usage', pageSize: 200 })) usage.push(item);
    expect(usage.map((item) => item.type)).toEqual(['usage', 'usage', 'usage', 'usage', 'usage']);

    const byService = await client.getUsage({ groupBy: 'service', minPosition: last });
    expectFieldsOf('UsageReport', byService);
    expect(byService.items).toEqual([{ service: 'sms', quantity: 15, credits: '15.000' }]);
    const byDay = await client.getUsage({ groupBy: 'day' });
    expect(byDay.items).toEqual([{ day: new Date().toISOString().slice(0, 10), quantity: 15, credits: '15.000' }]);
  });

  it('answers every failure with a typed LedgerApiError', async () => {
    const client = await userClient('gus');
    const badToken = createLedgerClient({ baseUrl: ledger.baseUrl, token: 'not-a-jwt', retry: quickRetry });
    expect(await caught(badToken.getBalance())).toMatchObject({ code: 'unauthenticated', status: 401 });
    expect(await caught(client.getBalance({ accountId: 'someone-else' }))).toMatchObject({ code: 'forbidden', status: 403 });
    const invalid = await caught(client.use('sms', 0));
    expect(invalid).toMatchObject({ code: 'validation_failed', status: 400 });
    expect((invalid as LedgerApiError).details.fields?.[0]?.field).toBe('body.quantity');
    await grant('gus', '5');
    await client.use('sms', 1, { idempotencyKey: 'gus-key-1' });
    expect(await caught(client.use('sms', 2, { idempotencyKey: 'gus-key-1' }))).toMatchObject({ code: 'idempotency_key_reused', status: 409 });
    expect(await caught(client.estimate('teleportation', 1))).toMatchObject({ name: 'LedgerClientError' });
  });

  it('retries a spend whose answer was lost with the same Idempotency-Key, and the account is charged once', async () => {
    const reports: AttemptReport[] = [];
    const client = await userClient('hana', proxyUrl, reports);
    await grant('hana', '10');
    proxy.dropResponseTo('POST /api/credits/use');

    const spent = await client.use('sms', 3);

    expect(spent).toMatchObject({ charged: '3.000', balance: '7.000', available: '7.000' });
    const sent = proxy.requests('POST /api/credits/use');
    expect(sent).toHaveLength(2);
    expect(sent[0]?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[1]?.headers['idempotency-key']).toBe(sent[0]?.headers['idempotency-key']);
    expect(reports.map((report) => [report.attempt, report.status, report.replayed])).toEqual([
      [1, undefined, false],
      [2, 200, true],
    ]);
    expect(await eventsOfType(ledger, 'CreditsUsed', 'hana')).toBe(1);
    expect(await client.getBalance({ minPosition: spent.position })).toMatchObject({ balance: '7.000', totalUsed: '3.000' });
    expect((await client.getTransactions({ type: 'usage' })).items).toHaveLength(1);
  });

  it('retries a 503 with the same key, and gives up on a dead service with a LedgerNetworkError', async () => {
    const client = await userClient('ivan', proxyUrl);
    await grant('ivan', '10');
    proxy.answer503To('POST /api/credits/reservations');
    const held = await client.reserve('sms', 2);
    expect(held.available).toBe('8.000');
    const sent = proxy.requests('POST /api/credits/reservations');
    expect(sent).toHaveLength(2);
    expect(sent[1]?.headers['idempotency-key']).toBe(sent[0]?.headers['idempotency-key']);
    expect(await eventsOfType(ledger, 'CreditsReserved', 'ivan')).toBe(1);

    const dead = createLedgerClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, token: 't', retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } });
    const failure = await caught(dead.use('sms', 1));
    expect(failure).toBeInstanceOf(LedgerNetworkError);
    expect((failure as Error).message).toContain('after 3 tries');
  });

  it('follows the live balance, and after a dropped stream resumes with Last-Event-ID', async () => {
    const client = await userClient('jade', proxyUrl);
    await grant('jade', '30');
    const settings = await client.setLowBalanceThreshold('20');
    // Subscribe once the read model has the grant, so the first message is the 30 credits.
    await client.getBalance({ minPosition: settings.position });
    const balances: Balance[] = [];
    const arrivals: number[] = [];
    const alerts: LowBalanceAlert[] = [];
    const subscription = client.subscribe({
      onBalance: (balance) => {
        balances.push(balance);
        arrivals.push(Date.now());
      },
      onLowBalance: (alert) => alerts.push(alert),
    });
    try {
      await eventually('the first balance', () => balances.length >= 1);
      expectFieldsOf('Balance', balances[0] as Balance);
      expect(balances[0]).toMatchObject({ accountId: 'jade', balance: '30.000' });

      const sentAt = Date.now();
      await backend.use('sms', 15, { accountId: 'jade' });
      await eventually('the balance after another client’s spend', () => balances.some((balance) => balance.balance === '15.000'));
      const arrivedAt = arrivals[balances.findIndex((balance) => balance.balance === '15.000')] ?? Infinity;
      expect(arrivedAt - sentAt).toBeLessThan(1000);
      await eventually('the low-balance alert', () => alerts.length === 1);
      expect(alerts[0]?.accountId).toBe('jade');
      const resumeFrom = subscription.lastEventId;
      expect(resumeFrom).toMatch(/^\d+$/);

      proxy.dropAll();
      await backend.use('sms', 5, { accountId: 'jade' });
      await eventually('the balance after the reconnect', () => balances.some((balance) => balance.balance === '10.000'), 10_000);
      const streams = proxy.requests('GET /api/credits/balance/stream');
      expect(streams.length).toBeGreaterThanOrEqual(2);
      expect(streams[1]?.headers['last-event-id']).toBe(resumeFrom);
    } finally {
      subscription.close();
    }
  });

  it('stops the stream on a refused token and reports the typed error', async () => {
    const errors: unknown[] = [];
    const statuses: string[] = [];
    const client = createLedgerClient({ baseUrl: ledger.baseUrl, token: 'bad' });
    const subscription = client.subscribe({ onError: (error) => errors.push(error), onStatus: (status) => statuses.push(status) });
    await eventually('the refusal', () => subscription.closed);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'unauthenticated', status: 401 });
    expect(statuses).toEqual(['connecting', 'closed']);
  });
});
