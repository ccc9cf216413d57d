import { randomUUID } from 'node:crypto';
import { archiveKey } from '../../src/application/accounts/archived-commands';
import type { SnapshotToWrite } from '../../src/application/accounts/account-snapshot';
import { initialAccountState, type AccountState, type CommandRecord } from '../../src/domain/account.state';
import { PostgresSnapshotStore } from '../../src/infrastructure/postgres/postgres-snapshot-store';
import { version4Chunk } from '../support/archive-chunks';
import { testDatabaseTargets, type TestDatabase } from '../support/databases';

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = Date.parse('2026-12-07T03:00:00.000Z');

/** A spend's record as the writer keeps it, recorded `ageMs` before NOW at log position `position`. */
const spendRecord = (position: number, ageMs: number): CommandRecord => ({
  commandId: `cmd-${randomUUID()}`,
  requestHash: 'a'.repeat(64),
  recordedAt: new Date(NOW - ageMs).toISOString(),
  event: { type: 'CreditsUsed', data: { usageId: `use-${position}`, service: 'sms', quantity: 1, chargedMillicredits: 1000 } },
  balanceAfterMillicredits: 1_000_000 - position * 1000,
  availableAfterMillicredits: 1_000_000 - position * 1000,
  position,
});

const snapshotOf = (streamId: string, revision: number, records: readonly CommandRecord[], balance = 1_000_000): SnapshotToWrite => {
  const state: AccountState = {
    ...initialAccountState,
    balanceMillicredits: balance,
    commands: new Map(records.map((record) => [record.commandId, record])),
  };
  return { streamId, revision, position: revision + 1, lastHash: 'f'.repeat(64), state };
};

describe.each(testDatabaseTargets())('PostgresSnapshotStore writes on %s', (name, createDatabase) => {
  // PGlite is one connection: a transaction held open from outside needs a real server.
  const itOnServer = name === 'postgres' ? it : it.skip;
  let database: TestDatabase;

  beforeEach(async () => {
    database = await createDatabase();
  });

  afterEach(async () => {
    await database.drop();
  });

  it('writes the snapshots taken together in one transaction, each as if written alone', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const streams = ['account-a', 'account-b', 'account-c', 'account-d'];
    const written = streams.map((streamId, index) =>
      snapshotOf(streamId, 10 + index, Array.from({ length: 3 + index }, (_, n) => spendRecord(100 * index + n, 60_000)), 5_000 + index),
    );

    await Promise.all(written.map((snapshot) => store.write(snapshot, NOW - 2 * DAY_MS)));

    expect(store.snapshotTransactions).toBe(1);
    for (const snapshot of written) {
      const read = await store.read(snapshot.streamId);
      expect(read).toMatchObject({ streamId: snapshot.streamId, revision: snapshot.revision, position: snapshot.position, lastHash: snapshot.lastHash });
      expect(read?.state.balanceMillicredits).toBe(snapshot.state.balanceMillicredits);
      expect(read?.state.commands.size).toBe(0);
      const records = [...snapshot.state.commands.values()];
      // Every record's key is archived under its own stream only, and each record is recalled as written.
      expect([...(read?.archivedCommands.keys() ?? [])].sort()).toEqual(records.map((record) => archiveKey(record.commandId)).sort());
      const recalled = await store.recallCommands(snapshot.streamId, records.map((record) => record.commandId));
      expect([...recalled].sort((a, b) => a.position - b.position)).toEqual(records);
    }
    expect(await store.recallCommands('account-a', [...(written[1]?.state.commands.keys() ?? [])])).toEqual([]);
  });

  it('writes two snapshots of one stream taken together one after the other, keeping the newer and every record', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const older = [spendRecord(1, 60_000), spendRecord(2, 60_000)];
    const newer = [...older, spendRecord(3, 30_000)];

    await Promise.all([store.write(snapshotOf('account-a', 2, older, 1), NOW - 2 * DAY_MS), store.write(snapshotOf('account-a', 3, newer, 2), NOW - 2 * DAY_MS)]);

    // One statement may not touch a row twice: a stream's second snapshot waits for the next transaction.
    expect(store.snapshotTransactions).toBe(2);
    const read = await store.read('account-a');
    expect(read?.revision).toBe(3);
    expect(read?.state.balanceMillicredits).toBe(2);
    expect(read?.archivedCommands.size).toBe(3);
    expect(await store.recallCommands('account-a', newer.map((record) => record.commandId))).toHaveLength(3);
  });

  it('keeps a newer snapshot than one written later in the same group, and forgets old records per stream', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const old = spendRecord(1, 3 * DAY_MS);
    const recent = spendRecord(2, 60_000);
    await store.write(snapshotOf('account-a', 50, [old], 50), Number.NEGATIVE_INFINITY);
    await store.write(snapshotOf('account-b', 5, [old], 5), Number.NEGATIVE_INFINITY);
    expect(store.snapshotTransactions).toBe(2);

    await Promise.all([
      // Older than what account-a keeps: its records are archived, its state is not.
      store.write(snapshotOf('account-a', 40, [recent], 40), NOW - 2 * DAY_MS),
      // account-b forgets nothing.
      store.write(snapshotOf('account-b', 6, [recent], 6), Number.NEGATIVE_INFINITY),
    ]);

    expect(store.snapshotTransactions).toBe(3);
    const a = await store.read('account-a');
    expect(a?.revision).toBe(50);
    expect(a?.state.balanceMillicredits).toBe(50);
    expect(a?.archivedCommands.recordedAt(archiveKey(old.commandId))).toBeUndefined();
    expect(a?.archivedCommands.recordedAt(archiveKey(recent.commandId))).toBe(Date.parse(recent.recordedAt));
    expect(await store.recallCommands('account-a', [old.commandId, recent.commandId])).toEqual([recent]);
    const b = await store.read('account-b');
    expect(b?.revision).toBe(6);
    expect(await store.recallCommands('account-b', [old.commandId, recent.commandId])).toHaveLength(2);
  });

  it('replaces the archived record of a reused command id that the same write forgets by age', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const first = spendRecord(1, 3 * DAY_MS);
    const other = spendRecord(2, 3 * DAY_MS);
    await store.write(snapshotOf('account-a', 2, [first, other]), Number.NEGATIVE_INFINITY);
    // The command id comes back, recorded now at a later position: its old row is both older
    // than the bound and the row this write replaces.
    const again: CommandRecord = { ...spendRecord(7, 60_000), commandId: first.commandId };

    await store.write(snapshotOf('account-a', 8, [again]), NOW - 2 * DAY_MS);

    expect(await store.recallCommands('account-a', [first.commandId, other.commandId])).toEqual([again]);
    const read = await store.read('account-a');
    expect(read?.revision).toBe(8);
    // The old chunk (newest three days ago) is forgotten; the new one names the command again.
    expect(read?.archivedCommands.recordedAt(archiveKey(first.commandId))).toBe(Date.parse(again.recordedAt));
    expect(read?.archivedCommands.recordedAt(archiveKey(other.commandId))).toBeUndefined();
  });

  it('keeps no row for a record older than the bound its own snapshot forgets by, and its key in the chunk', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const old = spendRecord(1, 3 * DAY_MS);
    const recent = spendRecord(2, 60_000);

    await store.write(snapshotOf('account-a', 2, [old, recent]), NOW - 2 * DAY_MS);

    expect(await store.recallCommands('account-a', [old.commandId, recent.commandId])).toEqual([recent]);
    const [row] = await database.client.query<{ records: string; chunks: string }>(
      `SELECT (SELECT count(*) FROM account_command_records)::text AS records, (SELECT count(*) FROM account_archived_commands)::text AS chunks`,
    );
    expect(row).toEqual({ records: '1', chunks: '1' });
    // The chunk (newest a minute ago) names both, as the records it archived.
    expect((await store.read('account-a'))?.archivedCommands.size).toBe(2);
  });

  it('fails only the snapshot that cannot be written when its group fails, and writes the others', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const good = [snapshotOf('account-a', 1, [spendRecord(1, 60_000)]), snapshotOf('account-c', 1, [spendRecord(2, 60_000)])];
    // A position that is not an integer: Postgres refuses the bigint, so the whole group's statement fails.
    const bad = snapshotOf('account-b', 1, [{ ...spendRecord(3, 60_000), position: 1.5 }]);

    const outcomes = await Promise.allSettled([good[0], bad, good[1]].map((snapshot) => store.write(snapshot as SnapshotToWrite, NOW - 2 * DAY_MS)));

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // The group, then each of its three alone.
    expect(store.snapshotTransactions).toBe(4);
    expect((await store.read('account-a'))?.revision).toBe(1);
    expect((await store.read('account-c'))?.revision).toBe(1);
    expect(await store.read('account-b')).toBeUndefined();
    // Nothing of the failed snapshot was kept: no chunk, no record.
    const [row] = await database.client.query<{ chunks: string; records: string }>(
      `SELECT (SELECT count(*) FROM account_archived_commands WHERE stream_id = 'account-b')::text AS chunks,
              (SELECT count(*) FROM account_command_records WHERE stream_id = 'account-b')::text AS records`,
    );
    expect(row).toEqual({ chunks: '0', records: '0' });
  });

  it('adds the packed column to an archive a process of snapshot version 4 left, and reads its chunks beside packed ones', async () => {
    const older = [spendRecord(1, 60 * 60_000), spendRecord(2, 30 * 60_000)];
    await (await PostgresSnapshotStore.open(database.client)).write(snapshotOf('account-a', 2, older), NOW - 2 * DAY_MS);
    // As version 4 left it: no packed column, a version-4 snapshot, and its chunk as float64 pairs in base64.
    await database.client.query(`DELETE FROM account_archived_commands`);
    await database.client.query(`ALTER TABLE account_archived_commands DROP COLUMN packed`);
    await database.client.query(`UPDATE account_snapshots SET version = 4`);
    await database.client.query(
      `INSERT INTO account_archived_commands (stream_id, chunk_id, newest_recorded_at, commands) VALUES ('account-a', $1, $2, $3)`,
      [randomUUID(), older[1]?.recordedAt, version4Chunk(older.map((record) => ({ commandId: record.commandId, at: Date.parse(record.recordedAt) })))],
    );

    const store = await PostgresSnapshotStore.open(database.client);
    const newer = spendRecord(3, 60_000);
    const fromVersion4 = await store.read('account-a');
    await store.write(snapshotOf('account-a', 3, [newer]), NOW - 2 * DAY_MS);
    const fromBoth = await store.read('account-a');

    expect([...(fromVersion4?.archivedCommands.keys() ?? [])]).toEqual(older.map((record) => archiveKey(record.commandId)));
    expect([...(fromBoth?.archivedCommands.keys() ?? [])]).toEqual([...older, newer].map((record) => archiveKey(record.commandId)));
    for (const record of [...older, newer]) expect(fromBoth?.archivedCommands.recordedAt(archiveKey(record.commandId))).toBe(Date.parse(record.recordedAt));
    const rows = await database.client.query<{ version: number; packed: boolean }>(
      `SELECT (SELECT version FROM account_snapshots) AS version, packed IS NOT NULL AS packed FROM account_archived_commands ORDER BY newest_recorded_at`,
    );
    expect(rows).toEqual([
      { version: 5, packed: false },
      { version: 5, packed: true },
    ]);
  });

  it('writes the snapshots of many streams in a few transactions of at most 256', async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const many = Array.from({ length: 600 }, (_, index) => snapshotOf(`account-${index}`, 1, [spendRecord(index, 60_000)]));

    await Promise.all(many.map((snapshot) => store.write(snapshot, NOW - 2 * DAY_MS)));

    // 256 snapshots per transaction at most.
    expect(store.snapshotTransactions).toBe(3);
    const [row] = await database.client.query<{ snapshots: string; records: string }>(
      `SELECT (SELECT count(*) FROM account_snapshots)::text AS snapshots, (SELECT count(*) FROM account_command_records)::text AS records`,
    );
    expect(row).toEqual({ snapshots: '600', records: '600' });
    expect(store.queuedSnapshots).toBe(0);
  });
  itOnServer("writes a stream's next snapshot beside the one still in flight, not after it (real Postgres only)", async () => {
    const store = await PostgresSnapshotStore.open(database.client);
    const [taken, next] = [spendRecord(2, 60_000), spendRecord(3, 30_000)];
    await store.write(snapshotOf('account-hot', 1, []), Number.NEGATIVE_INFINITY);
    // Another session holds the stream's snapshot row: the next write of it blocks at its upsert.
    const blocker = await database.client.withSession(async (session) => {
      await session.query('BEGIN');
      await session.query(`SELECT 1 FROM account_snapshots WHERE stream_id = 'account-hot' FOR UPDATE`);
      const first = store.write(snapshotOf('account-hot', 2, [taken]), NOW - 2 * DAY_MS);
      const until = Date.now() + 5_000;
      while (store.snapshotTransactions < 2 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      // The first is in flight and blocked; the next one of the same stream (its records not
      // yet released, so taken in again) starts its own transaction meanwhile.
      const second = store.write(snapshotOf('account-hot', 3, [taken, next]), NOW - 2 * DAY_MS);
      const started = Date.now() + 5_000;
      while (store.snapshotTransactions < 3 && Date.now() < started) await new Promise((resolve) => setTimeout(resolve, 10));
      const inFlight = store.snapshotTransactions;
      await session.query('COMMIT');
      await Promise.all([first, second]);
      return inFlight;
    });

    expect(blocker).toBe(3);
    const read = await store.read('account-hot');
    expect(read?.revision).toBe(3);
    expect(read?.archivedCommands.size).toBe(2);
  });
});
