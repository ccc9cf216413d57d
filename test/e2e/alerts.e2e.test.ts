import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { headPosition, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';
import { eventually } from '../support/read-models';

const SECRET = 'alert-signing-secret';

interface Delivery {
  readonly body: string;
  readonly signature: string;
  readonly eventId: string;
}

/** A real HTTP receiver that fails its first `failures` requests with 500. */
const startReceiver = async (failures: number) => {
  const attempts: Delivery[] = [];
  const accepted: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const delivery = { body, signature: String(req.headers['ledger-signature']), eventId: String(req.headers['ledger-event-id']) };
      attempts.push(delivery);
      if (attempts.length <= failures) return void res.writeHead(500).end('not yet');
      accepted.push(delivery);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/alerts`, attempts, accepted, close: () => new Promise((resolve) => server.close(resolve)) };
};

const validSignature = ({ body, signature }: Delivery): boolean => {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
  if (match === null) return false;
  const expected = createHmac('sha256', SECRET).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2] ?? '', 'hex'));
};


describe.each(storageTargets())('low-balance alerts on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    storage = await makeStorage();
    receiver = await startReceiver(3);
    ledger = await startLedger(storage, { ALERT_WEBHOOK_URL: receiver.url, ALERT_WEBHOOK_SECRET: SECRET, ALERT_RETRY_BASE_MS: '50' });
  });

  afterAll(async () => {
    await ledger.stop();
    await receiver.close();
    await storage.dispose();
  });

  it('alerts once per downward crossing, delivered exactly once after the receiver fails three times, signed', async () => {
    const admin = await tokenFor('ops', 'admin');
    const vera = await tokenFor('vera');
    const http = () => request(ledger.baseUrl);
    const spend = (quantity: number) => http().post('/api/credits/use').set('Authorization', `Bearer ${vera}`).send({ service: 'sms', quantity }).expect(200);

    expect((await http().put('/api/credits/alerts').set('Authorization', `Bearer ${vera}`).send({ lowBalanceThreshold: '20' }).expect(200)).body).toMatchObject({
      lowBalanceThreshold: '20.000',
    });
    await http().put('/api/credits/alerts').set('Authorization', `Bearer ${vera}`).send({ lowBalanceThreshold: '-1' }).expect(400);
    await http().post('/api/admin/accounts/vera/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '50', reason: 'r' }).expect(201);
    await spend(25); // 25 left: above 20
    await spend(10); // 15 left: the crossing
    await spend(5); // still below: no second alert
    const balance = await http().get(`/api/credits/balance?minPosition=${await headPosition(ledger.sql)}`).set('Authorization', `Bearer ${vera}`).expect(200);
    expect(balance.body).toMatchObject({ available: '10.000', lowBalanceThreshold: '20.000', lowBalance: true });

    await eventually('a delivery the receiver accepts', () => receiver.accepted.length === 1);
    expect(receiver.attempts.length).toBe(4);
    const [delivery] = receiver.accepted;
    if (delivery === undefined) throw new Error('no delivery');
    expect(validSignature(delivery)).toBe(true);
    const alert = JSON.parse(delivery.body);
    expect(alert).toEqual({ id: delivery.eventId, type: 'low_balance', accountId: 'vera', balance: '15.000', threshold: '20.000', occurredAt: expect.any(String) });
    expect(receiver.attempts.every((attempt) => attempt.eventId === delivery.eventId)).toBe(true);

    // Topping up above the threshold re-arms it; the next fall alerts again, once.
    await http().post('/api/admin/accounts/vera/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '30', reason: 'r' }).expect(201);
    await spend(25);
    await eventually('the second alert', () => receiver.accepted.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.accepted).toHaveLength(2);
    expect(new Set(receiver.accepted.map((accepted) => accepted.eventId)).size).toBe(2);
  });
});
