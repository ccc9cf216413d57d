import { Client } from 'pg';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { EXPECT_NO_STREAM } from '../../src/infrastructure/event-store/postgres-event-store.schema';
import { createPostgresDatabase, type TestDatabase } from '../support/databases';

const serverUrl = process.env['TEST_DATABASE_URL'];
// Holding one transaction open while another commits needs two connections: real Postgres only.
const describeOnServer = serverUrl ? describe : describe.skip;

describeOnServer('PostgreSQL event store: a late-committing append is never skipped (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  let store: PostgresEventStore;
  let slowWriter: Client;

  beforeAll(async () => {
    database = await createPostgresDatabase(serverUrl ?? '');
    store = await PostgresEventStore.open(database.client, { pollIntervalMs: 10 });
    slowWriter = new Client({ connectionString: database.url });
    await slowWriter.connect();
  });

  afterAll(async () => {
    await slowWriter.end();
    await store.close();
    await database.drop();
  });

  const event = (id: string) => ({ eventId: id, type: 'Probe', data: { id }, metadata: {} });

  it('holds readers below an open transaction, then hands out everything in log order', async () => {
    await store.append('credit-account-before', [event('before')], 'no_stream');

    await slowWriter.query('BEGIN');
    const [open] = (
      await slowWriter.query(`SELECT * FROM ledger_append($1, $2, $3, $4, $5, $6)`, [
        'credit-account-slow',
        EXPECT_NO_STREAM,
        ['slow'],
        ['Probe'],
        [JSON.stringify({ id: 'slow' })],
        ['{}'],
      ])
    ).rows as Array<{ ok: boolean; last_position: string }>;
    expect(open?.ok).toBe(true);

    const later = await store.append('credit-account-later', [event('later-1'), event('later-2')], 'no_stream');
    expect(later.position).toBeGreaterThan(BigInt(open?.last_position ?? '0'));

    const abort = new AbortController();
    const seen: string[] = [];
    const consuming = (async () => {
      for await (const recorded of store.subscribe({ after: null, signal: abort.signal })) {
        seen.push(recorded.eventId);
        if (seen.length === 4) abort.abort();
      }
    })();

    // The later append has committed, yet neither it nor anything after the open one may be read.
    const whileOpen = await store.readAll(null, 100);
    expect(whileOpen.map((recorded) => recorded.eventId)).toEqual(['before']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toEqual(['before']);

    await slowWriter.query('COMMIT');
    await consuming;
    expect(seen).toEqual(['before', 'slow', 'later-1', 'later-2']);
    const all = await store.readAll(null, 100);
    expect(all.map((recorded) => recorded.eventId)).toEqual(['before', 'slow', 'later-1', 'later-2']);
    expect(all.map((recorded) => recorded.position)).toEqual([...all.map((recorded) => recorded.position)].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('does not hold readers back for a transaction that rolls back', async () => {
    const start = (await store.readAll(null, 1000)).at(-1)?.position ?? null;
    await slowWriter.query('BEGIN');
    await slowWriter.query(`SELECT * FROM ledger_append($1, $2, $3, $4, $5, $6)`, [
      'credit-account-rolled-back',
      EXPECT_NO_STREAM,
      ['gone'],
      ['Probe'],
      ['{}'],
      ['{}'],
    ]);
    await store.append('credit-account-after-rollback', [event('kept')], 'no_stream');
    expect(await store.readAll(start, 10)).toEqual([]);
    await slowWriter.query('ROLLBACK');
    expect((await store.readAll(start, 10)).map((recorded) => recorded.eventId)).toEqual(['kept']);
  });
});
