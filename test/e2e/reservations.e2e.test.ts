import request from 'supertest';
import { countEvents, headPosition, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';
import { eventually } from '../support/read-models';

const eventsOfType = async (ledger: RunningLedger, type: string): Promise<number> => {
  const [row] = await ledger.sql.query<{ count: string }>('SELECT count(*)::text AS count FROM ledger_events WHERE type = $1', [type]);
  return Number(row?.count);
};


describe.each(storageTargets())('reservations on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let admin: string;
  const env = { EXPIRY_INTERVAL_MS: '50' };

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage, env);
    admin = await tokenFor('ops', 'admin');
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  const http = () => request(ledger.baseUrl);
  const grant = (accountId: string, body: object) =>
    http().post(`/api/admin/accounts/${accountId}/grants`).set('Authorization', `Bearer ${admin}`).send({ reason: 'test', ...body }).expect(201);
  const reserve = (token: string, body: object) => http().post('/api/credits/reservations').set('Authorization', `Bearer ${token}`).send(body);
  const capture = (token: string, id: string, quantity: number) =>
    http().post(`/api/credits/reservations/${id}/capture`).set('Authorization', `Bearer ${token}`).send({ quantity });
  const release = (token: string, id: string) => http().post(`/api/credits/reservations/${id}/release`).set('Authorization', `Bearer ${token}`).send({});
  const listOpen = (token: string, query = '') => http().get(`/api/credits/reservations${query}`).set('Authorization', `Bearer ${token}`);
  const openIds = async (token: string, query = '') =>
    ((await listOpen(token, query).expect(200)).body.items as Array<{ reservationId: string }>).map((item) => item.reservationId);
  const balanceOf = async (token: string) =>
    (await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${token}`).expect(200)).body;

  it('holds at once, captures the actual quantity and releases the rest, or releases all', async () => {
    const olga = await tokenFor('olga');
    await grant('olga', { credits: '10' });
    // A voice call held for 5 minutes: 5 credits.
    const held = await reserve(olga, { service: 'voice_call', quantity: 300 }).expect(201);
    expect(held.body).toMatchObject({ reserved: '5.000', balance: '10.000', available: '5.000', service: 'voice_call' });
    expect(Date.parse(held.body.expiresAt)).toBeGreaterThan(Date.now());
    expect(await balanceOf(olga)).toMatchObject({ balance: '10.000', reserved: '5.000', available: '5.000' });
    expect((await http().post('/api/credits/use').set('Authorization', `Bearer ${olga}`).send({ service: 'sms', quantity: 6 }).expect(402)).body.available).toBe('5.000');

    // The call lasted 2 minutes.
    const captured = await capture(olga, held.body.reservationId, 120).expect(200);
    expect(captured.body).toMatchObject({ charged: '2.000', released: '3.000', balance: '8.000', available: '8.000' });
    expect(await balanceOf(olga)).toMatchObject({ balance: '8.000', reserved: '0.000', totalUsed: '2.000' });

    const second = await reserve(olga, { service: 'sms', quantity: 3 }).expect(201);
    expect((await release(olga, second.body.reservationId).expect(200)).body).toMatchObject({ released: '3.000', available: '8.000' });
    expect((await capture(olga, second.body.reservationId, 1).expect(409)).body).toMatchObject({ error: 'reservation_closed', status: 'released' });
  });

  it('captures beyond the hold only up to what is available', async () => {
    const pat = await tokenFor('pat');
    await grant('pat', { credits: '10' });
    const held = await reserve(pat, { service: 'sms', quantity: 2 }).expect(201);
    expect((await capture(pat, held.body.reservationId, 11).expect(402)).body).toMatchObject({ required: '11.000', available: '10.000' });
    expect((await capture(pat, held.body.reservationId, 10).expect(200)).body).toMatchObject({ charged: '10.000', released: '0.000', balance: '0.000' });
  });

  it('lets exactly one of 100 concurrent captures through; the rest get 409 reservation_closed', async () => {
    const quinn = await tokenFor('quinn');
    await grant('quinn', { credits: '100' });
    const held = await reserve(quinn, { service: 'sms', quantity: 10 }).expect(201);
    const answers = await Promise.all(Array.from({ length: 100 }, () => capture(quinn, held.body.reservationId, 5)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 409 && answer.body.error === 'reservation_closed')).toHaveLength(99);
    expect(await balanceOf(quinn)).toMatchObject({ balance: '95.000', reserved: '0.000' });
  });

  it('refuses a capture after expiry with 409, and the schedule releases the hold', async () => {
    const rita = await tokenFor('rita');
    await grant('rita', { credits: '10' });
    const held = await reserve(rita, { service: 'sms', quantity: 4, ttlSeconds: 1 }).expect(201);
    await new Promise((resolve) => setTimeout(resolve, Date.parse(held.body.expiresAt) - Date.now() + 20));
    expect((await capture(rita, held.body.reservationId, 1).expect(409)).body).toMatchObject({ error: 'reservation_closed', status: 'expired' });
    await eventually('the expiry to release the hold', async () => (await balanceOf(rita)).reserved === '0.000');
    expect(await balanceOf(rita)).toMatchObject({ balance: '10.000', available: '10.000' });
  });

  it('refuses what is not the caller’s or not a reservation, and bad input, appending nothing', async () => {
    const sam = await tokenFor('sam2');
    const tom = await tokenFor('tom');
    await grant('sam2', { credits: '10' });
    const held = await reserve(sam, { service: 'sms', quantity: 1 }).expect(201);
    const before = await countEvents(ledger.sql);
    await capture(tom, held.body.reservationId, 1).expect(403);
    await capture(tom, 'rsv_nope', 1).expect(404);
    await capture(tom, `rsv_${'0'.repeat(32)}_${Buffer.from('tom').toString('base64url')}`, 1).expect(404);
    await capture(sam, held.body.reservationId, 0).expect(400);
    await reserve(sam, { service: 'sms', quantity: 1, ttlSeconds: 0 }).expect(400);
    await reserve(sam, { service: 'teleport', quantity: 1 }).expect(400);
    expect((await reserve(sam, { service: 'sms', quantity: 100 }).expect(402)).body.error).toBe('insufficient_credits');
    expect(await countEvents(ledger.sql)).toBe(before);
  });

  it('releases a reservation and expires a grant that fell due while the service was stopped, exactly once', async () => {
    const uma = await tokenFor('uma');
    await grant('uma', { credits: '10' });
    await grant('uma', { credits: '5', expiresAt: new Date(Date.now() + 1500).toISOString() });
    const held = await reserve(uma, { service: 'sms', quantity: 3, ttlSeconds: 1 }).expect(201);
    expect(held.body.available).toBe('12.000');
    const released = await eventsOfType(ledger, 'ReservationReleased');
    const expired = await eventsOfType(ledger, 'CreditsExpired');

    await ledger.stop();
    await new Promise((resolve) => setTimeout(resolve, 1700));
    ledger = await startLedger(storage, env);

    await eventually('the reservation and the grant to expire', async () => {
      const balance = await balanceOf(uma);
      return balance.reserved === '0.000' && balance.balance === '10.000';
    });
    // Give the scheduler a few more passes: nothing may happen twice.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await eventsOfType(ledger, 'ReservationReleased')).toBe(released + 1);
    expect(await eventsOfType(ledger, 'CreditsExpired')).toBe(expired + 1);
    expect(await balanceOf(uma)).toMatchObject({ balance: '10.000', available: '10.000', totalGranted: '15.000' });
    const history = await http().get(`/api/credits/transactions?type=expiry&minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${uma}`).expect(200);
    expect(history.body.items).toEqual([expect.objectContaining({ type: 'expiry', credits: '-5.000' })]);
  });
  it('lists the open reservations from the log, soonest-expiring first, until captured, released or expired', async () => {
    const vera = await tokenFor('vera');
    const billing = await tokenFor('billing', 'service');
    await grant('vera', { credits: '20' });
    expect((await listOpen(vera).expect(200)).body).toEqual({ items: [] });

    const call = await reserve(vera, { service: 'voice_call', quantity: 300, ttlSeconds: 600 }).expect(201);
    const sms = await reserve(billing, { service: 'sms', quantity: 2, ttlSeconds: 60, accountId: 'vera' }).expect(201);
    const brief = await reserve(vera, { service: 'sms', quantity: 1, ttlSeconds: 2 }).expect(201);
    // Straight after the commands answered: the list is read from the event log, not a read model.
    const listed = await listOpen(vera).expect(200);
    expect(listed.body).toEqual({
      items: [
        { reservationId: brief.body.reservationId, service: 'sms', reserved: '1.000', expiresAt: brief.body.expiresAt },
        { reservationId: sms.body.reservationId, service: 'sms', reserved: '2.000', expiresAt: sms.body.expiresAt },
        { reservationId: call.body.reservationId, service: 'voice_call', reserved: '5.000', expiresAt: call.body.expiresAt },
      ],
    });
    // Roles acting for others name the account; minPosition is accepted and already met.
    expect(await openIds(billing, `?accountId=vera&minPosition=${call.body.position}`)).toHaveLength(3);
    expect(await openIds(admin, '?accountId=vera')).toHaveLength(3);
    expect(await openIds(await tokenFor('audra', 'auditor'), '?accountId=vera')).toHaveLength(3);
    expect(await openIds(vera, '?accountId=vera')).toHaveLength(3);

    // Past its expiresAt a hold is no longer listed, whether or not the schedule has closed it yet.
    await new Promise((resolve) => setTimeout(resolve, Date.parse(brief.body.expiresAt) - Date.now() + 20));
    expect(await openIds(vera)).toEqual([sms.body.reservationId, call.body.reservationId]);

    await capture(vera, call.body.reservationId, 60).expect(200);
    expect(await openIds(vera)).toEqual([sms.body.reservationId]);
    await release(billing, sms.body.reservationId).expect(200);
    expect(await openIds(vera)).toEqual([]);
  });

  it('lists only what the caller may read, and refuses bad queries', async () => {
    const wes = await tokenFor('wes');
    await grant('wes', { credits: '5' });
    await reserve(wes, { service: 'sms', quantity: 1 }).expect(201);
    expect((await listOpen(await tokenFor('xena'), '?accountId=wes').expect(403)).body.error).toBe('forbidden');
    const unnamed = await listOpen(await tokenFor('billing', 'service')).expect(400);
    expect(unnamed.body).toMatchObject({ error: 'validation_failed', fields: [expect.objectContaining({ field: 'accountId' })] });
    const unknown = await listOpen(wes, '?status=open').expect(400);
    expect(unknown.body).toMatchObject({ error: 'validation_failed', fields: [expect.objectContaining({ field: 'query' })] });
    await listOpen(wes, '?minPosition=soon').expect(400);
    await http().get('/api/credits/reservations').expect(401);
    expect(await openIds(wes)).toHaveLength(1);
  });
});
