import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { testDatabaseTargets, type TestDatabase } from '../support/databases';

const event = (id: number) => ({ eventId: randomUUID(), type: 'Probe', data: { id }, metadata: {} });

describe.each(testDatabaseTargets())('PostgreSQL event store: plans kept by its functions on %s', (_name, createDatabase) => {
  let database: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    database = await createDatabase();
    store = await PostgresEventStore.open(database.client);
  });

  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  // With the default (auto) plan cache mode Postgres planned its statements afresh on every
  // call, which cost about half of the server's CPU per append (bench/README, 2026-12-07 afternoon).
  it('plans the statements of ledger_append_events once per session, not on every call', async () => {
    const [row] = await database.client.query<{ config: string[] | null }>(
      `SELECT proconfig AS config FROM pg_proc WHERE proname = 'ledger_append_events'`,
    );
    expect(row?.config).toEqual(['plan_cache_mode=force_generic_plan']);
  });

  // As an SQL function it was inlined and planned again on every read of the log.
  it('reads the horizon through a PL/pgSQL function, whose query a session plans once', async () => {
    const [row] = await database.client.query<{ language: string }>(
      `SELECT l.lanname AS language FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'ledger_read_horizon'`,
    );
    expect(row?.language).toBe('plpgsql');
  });

  it('appends batches of every size with the plans kept from the first calls', async () => {
    const streams = Array.from({ length: 12 }, () => `probe-${randomUUID()}`);
    // Sizes 1..12 and back: more than the five calls after which Postgres would settle on a plan.
    const sizes = [1, 2, 3, 5, 8, 12, 7, 1, 12, 2];
    for (const size of sizes) {
      const outcomes = await store.appendBatch(streams.slice(0, size).map((streamId, index) => ({ streamId, events: [event(index)], expected: 'any' as const })));
      expect(outcomes.map((outcome) => outcome.ok)).toEqual(Array(size).fill(true));
    }
    const counts = await Promise.all(streams.map(async (streamId) => (await store.readStream(streamId, 0, 100)).length));
    // Stream i got one event from every batch of more than i streams.
    expect(counts).toEqual(streams.map((_streamId, index) => sizes.filter((size) => size > index).length));
    expect(counts).toEqual([10, 8, 6, 5, 5, 4, 4, 3, 2, 2, 2, 2]);
  });
});
