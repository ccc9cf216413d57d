import { request as httpRequest, type IncomingMessage } from 'node:http';
import request from 'supertest';
import { startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';
import { eventually } from '../support/read-models';
import { createPostgresDatabase } from '../support/databases';
import { ProjectionsHost } from '../../src/projections/projections-host';
import { PROJECTIONS } from '../../src/projections/projections.registry';
import { DEFAULT_RUNNER_OPTIONS } from '../../src/projections/projection-runner';
import { EVENT_STORE, type EventStore } from '../../src/application/event-store.port';
import { BalanceFeed } from '../../src/infrastructure/live/balance-feed';

interface SseMessage {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: Record<string, unknown>;
  readonly at: number;
}

/** A real SSE client over HTTP: collects messages and heartbeats until closed. */
const openStream = (baseUrl: string, token: string, headers: Record<string, string> = {}) =>
  new Promise<{ messages: SseMessage[]; heartbeats: () => number; status: number; close: () => void }>((resolve, reject) => {
    const messages: SseMessage[] = [];
    let heartbeats = 0;
    const req = httpRequest(`${baseUrl}/api/credits/balance/stream`, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res: IncomingMessage) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) heartbeats += 1;
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((line) => !line.startsWith(':') && line.includes(':'))
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
          );
          if (fields['event'] !== undefined) messages.push({ event: fields['event'], id: fields['id'], data: JSON.parse(fields['data'] ?? '{}'), at: Date.now() });
          end = buffer.indexOf('\n\n');
        }
      });
      resolve({ messages, heartbeats: () => heartbeats, status: res.statusCode ?? 0, close: () => req.destroy() });
    });
    req.on('error', (error) => ((error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error)));
    req.end();
  });


describe.each(storageTargets())('live balance stream on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage, { SSE_HEARTBEAT_MS: '200' });
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  it('sends the balance now, then a balance event within a second of another client’s spend, and low_balance on the crossing', async () => {
    const admin = await tokenFor('ops', 'admin');
    const wendy = await tokenFor('wendy');
    const backend = await tokenFor('billing', 'service');
    await request(ledger.baseUrl).post('/api/admin/accounts/wendy/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '30', reason: 'r' }).expect(201);
    const set = await request(ledger.baseUrl).put('/api/credits/alerts').set('Authorization', `Bearer ${wendy}`).send({ lowBalanceThreshold: '20' }).expect(200);
    await request(ledger.baseUrl).get(`/api/credits/balance?minPosition=${set.body.position}`).set('Authorization', `Bearer ${wendy}`).expect(200);

    const stream = await openStream(ledger.baseUrl, wendy);
    expect(stream.status).toBe(200);
    await eventually('the first balance', () => stream.messages.length >= 1);
    expect(stream.messages[0]).toMatchObject({ event: 'balance', data: { accountId: 'wendy', balance: '30.000' } });

    const sentAt = Date.now();
    await request(ledger.baseUrl).post('/api/credits/use').set('Authorization', `Bearer ${backend}`).send({ service: 'sms', quantity: 15, accountId: 'wendy' }).expect(200);
    await eventually('the balance after the spend', () => stream.messages.some((message) => message.event === 'balance' && message.data['balance'] === '15.000'));
    const update = stream.messages.find((message) => message.data['balance'] === '15.000');
    expect((update?.at ?? Infinity) - sentAt).toBeLessThan(1000);
    expect(stream.messages.some((message) => message.event === 'low_balance')).toBe(true);
    await eventually('a heartbeat', () => stream.heartbeats() >= 1);

    // Resuming from an older id brings the client up to date at once.
    const resumed = await openStream(ledger.baseUrl, wendy, { 'last-event-id': stream.messages[0]?.id ?? '0' });
    await eventually('the resumed balance', () => resumed.messages.length >= 1);
    expect(resumed.messages[0]).toMatchObject({ event: 'balance', data: { balance: '15.000' } });
    stream.close();
    resumed.close();
  });

  it('reads the log only while a stream is open', async () => {
    const feed = ledger.app.get(BalanceFeed);
    await eventually('no stream left open by the tests before', () => !feed.active);
    const stream = await openStream(ledger.baseUrl, await tokenFor('quinn'));
    await eventually('the first balance', () => stream.messages.length >= 1);
    expect(feed.active).toBe(true);
    stream.close();
    await eventually('the feed to stop following once nobody listens', () => !feed.active);
    // And it follows again for the next stream, which still gets the next spend.
    const again = await openStream(ledger.baseUrl, await tokenFor('quinn'));
    await eventually('the first balance again', () => again.messages.length >= 1);
    expect(feed.active).toBe(true);
    const admin = await tokenFor('ops', 'admin');
    await request(ledger.baseUrl).post('/api/admin/accounts/quinn/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '5', reason: 'r' }).expect(201);
    await eventually('the balance after the grant', () => again.messages.some((message) => message.data['balance'] === '5.000'));
    again.close();
  });

  it('refuses a stream without a token or for another account', async () => {
    const stranger = await tokenFor('xavier');
    await request(ledger.baseUrl).get('/api/credits/balance/stream').expect(401);
    await request(ledger.baseUrl).get('/api/credits/balance/stream?accountId=wendy').set('Authorization', `Bearer ${stranger}`).expect(403);
  });
});

// Two processes on one database: a service that runs no projections, and a projections host.
const describeOnServer = process.env['TEST_DATABASE_URL'] ? describe : describe.skip;

describeOnServer('live balance stream opened while the read model lags (needs TEST_DATABASE_URL)', () => {
  it('sends the balance again once the read model has caught up with what the feed had already passed', async () => {
    const database = await createPostgresDatabase(process.env['TEST_DATABASE_URL'] ?? '');
    const ledger = await startLedger({ name: 'postgres', env: { DATABASE_URL: database.url ?? '', RUN_PROJECTIONS: 'false' }, dispose: async () => undefined });
    const host = () => new ProjectionsHost(database.client, ledger.app.get<EventStore>(EVENT_STORE), PROJECTIONS, DEFAULT_RUNNER_OPTIONS);
    // Made once so the read-model tables exist, then stopped: the grant below stays unprojected.
    const preparing = host();
    await preparing.start();
    await preparing.stop();
    const projections = host();
    try {
      const admin = await tokenFor('ops', 'admin');
      await request(ledger.baseUrl).post('/api/admin/accounts/lagging/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '40', reason: 'lag' }).expect(201);
      const stream = await openStream(ledger.baseUrl, await tokenFor('lagging'));
      try {
        await eventually('the first message', async () => stream.messages.length >= 1);
        // Nothing has projected the grant yet: the stream starts from the stale read model.
        expect(stream.messages[0]?.data).toMatchObject({ balance: '0.000' });
        await projections.start();
        await eventually('the caught-up balance', async () => stream.messages.some((message) => message.data['balance'] === '40.000'));
        expect(stream.messages.filter((message) => message.event === 'balance').map((message) => message.data['balance'])).toEqual(['0.000', '40.000']);
      } finally {
        stream.close();
      }
    } finally {
      await projections.stop();
      await ledger.stop();
      await database.drop();
    }
  });
});
