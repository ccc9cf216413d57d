import request from 'supertest';
import { EVENT_STORE, type EventStore } from '../../src/application/event-store.port';
import type { SqlClient } from '../../src/infrastructure/postgres/sql-client';
import type { Projection, TableNamer } from '../../src/projections/projection';
import { PROJECTIONS } from '../../src/projections/projections.registry';
import { rebuildProjections, type RebuildProgress } from '../../src/projections/rebuild';
import { headPosition, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const ORDER_BY: Readonly<Record<string, string>> = {
  balances: 'account_id',
  transactions: 'account_id, stream_revision',
  usage_daily: 'account_id, day, service',
  purchases: 'payment_reference',
  expiry_schedule: 'kind, ref_id',
  alert_outbox: 'alert_id',
};

const contentHash = async (sql: SqlClient, table: string, orderBy: string): Promise<string> => {
  const [row] = await sql.query<{ hash: string; count: string }>(
    `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY ${orderBy}), '')) AS hash, count(*)::text AS count FROM ${table} t`,
  );
  return `${row?.count}:${row?.hash}`;
};

/** The projection built from position 0 into tables of its own, as a fresh replay would. */
const replayFromScratch = async (sql: SqlClient, store: EventStore, projection: Projection): Promise<TableNamer> => {
  const expected: TableNamer = (base) => `${base}__expected`;
  await sql.transaction(async (tx) => {
    for (const table of projection.tables) await tx.query(`DROP TABLE IF EXISTS ${expected(table)}`);
    await projection.createTables(tx, expected);
  });
  for (let after: bigint | null = null; ; ) {
    const batch = await store.readAll(after, 1000);
    const last = batch.at(-1);
    if (last === undefined) return expected;
    await sql.transaction((tx) => projection.apply(tx, batch, expected));
    after = last.position;
  }
};

describe.each(storageTargets())('online rebuild on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  it('ends, while spends keep arriving and the API answers, with tables identical to a from-scratch replay', async () => {
    const admin = await tokenFor('ops', 'admin');
    const accounts = ['r1', 'r2', 'r3', 'r4'];
    for (const account of accounts) {
      await request(ledger.baseUrl).post(`/api/admin/accounts/${account}/grants`).set('Authorization', `Bearer ${admin}`).send({ credits: '100000', reason: 'load' }).expect(201);
    }
    const tokens = await Promise.all(accounts.map((account) => tokenFor(account)));
    const spend = (index: number) =>
      request(ledger.baseUrl)
        .post('/api/credits/use')
        .set('Authorization', `Bearer ${tokens[index % tokens.length]}`)
        .send({ service: ['sms', 'gpt-4', 'voice_call', 'claude'][index % 4], quantity: 1 + (index % 97) });
    for (let index = 0; index < 300; index += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, offset) => spend(index + offset).expect(200)));
    }

    // Spends and reads keep going for the whole rebuild; every answer must be a success.
    let running = true;
    const statuses: number[] = [];
    const traffic = (async () => {
      for (let index = 0; running; index += 1) {
        const [used, read] = await Promise.all([
          spend(index),
          request(ledger.baseUrl).get('/api/credits/transactions?limit=5').set('Authorization', `Bearer ${tokens[index % tokens.length]}`),
        ]);
        statuses.push(used.status, read.status);
      }
    })();

    const store = ledger.app.get<EventStore>(EVENT_STORE);
    const progress: RebuildProgress[] = [];
    // Every projection from one read of the log, each swapped in on its own.
    const results = await rebuildProjections(ledger.sql, store, PROJECTIONS, { batchSize: 50, onProgress: (update) => progress.push(update) });
    expect(results.map((result) => result.projection)).toEqual(PROJECTIONS.map((projection) => projection.name));
    for (const result of results) expect(result.eventsApplied).toBeGreaterThan(300);
    running = false;
    await traffic;

    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(progress.at(-1)).toMatchObject({ projection: PROJECTIONS.map((projection) => projection.name).join(', '), eventsDone: expect.any(Number) });

    // Let the live runners apply what arrived after the swaps, then compare with a replay.
    const head = await headPosition(ledger.sql);
    await request(ledger.baseUrl).get(`/api/credits/balance?minPosition=${head}`).set('Authorization', `Bearer ${tokens[0]}`).expect(200);
    const waitAll = async () => {
      for (const { name } of PROJECTIONS) {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const [row] = await ledger.sql.query<{ position: string | null }>('SELECT position::text FROM projection_checkpoints WHERE name = $1', [name]);
          if (row?.position != null && Number(row.position) >= head) break;
          if (Date.now() > deadline) throw new Error(`${name} did not reach ${head}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    await waitAll();
    for (const projection of PROJECTIONS) {
      const expected = await replayFromScratch(ledger.sql, store, projection);
      for (const table of projection.tables) {
        const orderBy = ORDER_BY[table] ?? '1';
        expect(await contentHash(ledger.sql, table, orderBy)).toBe(await contentHash(ledger.sql, expected(table), orderBy));
      }
    }
  });
});
