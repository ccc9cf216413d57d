/**
 * The batched single-writer write path (AccountCommandExecutor) on a real event store:
 * hot accounts decided against cached state, many accounts in one append batch,
 * two writers on one database, and snapshots that keep loads short.
 */
import { randomUUID } from 'node:crypto';
import { AccountCommandExecutor, EARLY_SNAPSHOT_EVENTS, type CommandOutcome } from '../../src/application/accounts/account-command-executor';
import { AccountRepository, type LoadedAccount } from '../../src/application/accounts/account-repository';
import { archiveKey } from '../../src/application/accounts/archived-commands';
import { oneOffCommandId } from '../../src/application/accounts/command-input';
import type { AppendRequest, BatchAppendOutcome, EventStore } from '../../src/application/event-store.port';
import type { LedgerSettings } from '../../src/application/ledger-settings';
import type { AccountCommand } from '../../src/domain/account.commands';
import { accountStreamId } from '../../src/domain/account.events';
import { fold, initialAccountState, type AccountState } from '../../src/domain/account.state';
import { decodeAccountEvent } from '../../src/application/accounts/account-event-codec';
import { loadConfig } from '../../src/infrastructure/config/app-config';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { ledgerSettings } from '../../src/infrastructure/ledger.module';
import { PostgresSnapshotStore } from '../../src/infrastructure/postgres/postgres-snapshot-store';
import { uuidGenerator } from '../../src/infrastructure/system-clock';
import { ListOpenReservationsHandler, ListOpenReservationsQuery } from '../../src/application/reservations/list-open-reservations';
import { version4Chunk } from '../support/archive-chunks';
import { testDatabaseTargets, type TestDatabase } from '../support/databases';
import { grant, recordOf, SMS_RATE, spend } from '../support/account-commands';

/** The real store, with every `appendBatch` going through `around` first. */
const aroundAppendBatch = (
  inner: EventStore,
  around: (requests: readonly AppendRequest[], append: () => Promise<readonly BatchAppendOutcome[]>) => Promise<readonly BatchAppendOutcome[]>,
): EventStore =>
  new Proxy(inner, {
    get: (target, property, receiver) => {
      if (property === 'appendBatch') return (requests: readonly AppendRequest[]) => around(requests, () => target.appendBatch(requests));
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

/** The real store, counting the batches that reach it. */
class CountingStore {
  batches: number[] = [];
  readonly store: EventStore;
  constructor(inner: EventStore) {
    this.store = aroundAppendBatch(inner, (requests, append) => {
      this.batches.push(requests.length);
      return append();
    });
  }
}

/** The real store, holding back every append batch until `release()`: a commit that is slow. */
class HeldStore {
  readonly store: EventStore;
  readonly started: (readonly string[])[] = [];
  private open: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));
  constructor(inner: EventStore) {
    this.store = aroundAppendBatch(inner, async (requests, append) => {
      this.started.push(requests.map((request) => request.streamId));
      await this.gate;
      return append();
    });
  }
  release(): void {
    this.open();
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** The idempotency window is whole: each command is either in the loaded state or archived (by key), never both. */
const expectWholeWindow = (loaded: LoadedAccount, full: AccountState): void => {
  const inState = [...loaded.state.commands.keys()].map(archiveKey);
  const archived = [...loaded.archivedCommands.keys()];
  expect(new Set([...archived, ...inState])).toEqual(new Set([...full.commands.keys()].map(archiveKey)));
  expect(archived.length + inState.length).toBe(full.commands.size);
};

const status = (outcome: CommandOutcome) => (outcome.status === 'rejected' ? outcome.error.code : outcome.status);

describe.each(testDatabaseTargets())('the batched single writer on %s', (_name, createDatabase) => {
  let database: TestDatabase;
  let events: PostgresEventStore;
  let settings: LedgerSettings;

  beforeAll(async () => {
    database = await createDatabase();
    events = await PostgresEventStore.open(database.client);
    settings = { ...ledgerSettings(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(40) })), snapshotEveryEvents: 100 };
  });

  afterAll(async () => {
    await events.close();
    await database.drop();
  });

  const writer = async (store: EventStore = events, writerSettings = settings) => {
    const snapshots = await PostgresSnapshotStore.open(database.client);
    const accounts = new AccountRepository(store, uuidGenerator, writerSettings, snapshots);
    return { accounts, executor: new AccountCommandExecutor(accounts, store, writerSettings) };
  };

  const replayed = async (accountId: string) => {
    const stream = await events.readStream(accountStreamId(accountId), 0, 1_000_000);
    return { stream, state: fold(initialAccountState, stream.map((e) => ({ event: decodeAccountEvent(e), position: Number(e.position) })), settings) };
  };

  it('decides a burst on one hot account against cached state, in a few batches, charging exactly what fits', async () => {
    const counting = new CountingStore(events);
    const { executor } = await writer(counting.store);
    await executor.execute(grant('hot', 250_000));
    counting.batches = [];

    const outcomes = await Promise.all(Array.from({ length: 300 }, () => executor.execute(spend('hot', 1))));

    expect(outcomes.filter((outcome) => outcome.status === 'applied')).toHaveLength(250);
    expect(outcomes.filter((outcome) => status(outcome) === 'insufficient_credits')).toHaveLength(50);
    // 300 commands, a handful of round trips: each batch holds many of them.
    expect(counting.batches.length).toBeLessThanOrEqual(10);
    const { stream, state } = await replayed('hot');
    expect(state.balanceMillicredits).toBe(0);
    expect(stream.filter((event) => event.type === 'CreditsUsed')).toHaveLength(250);
    // Every answer names the position its command's last event was stored at.
    const lastPositions = new Map<string, number>();
    for (const event of stream) lastPositions.set((event.data as { commandId: string }).commandId, Number(event.position));
    for (const outcome of outcomes) {
      if (outcome.status !== 'applied') continue;
      expect(outcome.record.position).toBe(lastPositions.get(outcome.record.commandId));
    }
  });

  it('appends the commands of many accounts in one batch, one request per account', async () => {
    const counting = new CountingStore(events);
    const { executor } = await writer(counting.store);
    await Promise.all(Array.from({ length: 50 }, (_, index) => executor.execute(grant(`many-${index}`, 10_000))));
    counting.batches = [];

    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, index) => executor.execute(spend(`many-${index % 50}`, 1))));

    expect(outcomes.every((outcome) => outcome.status === 'applied')).toBe(true);
    expect(counting.batches.length).toBeLessThanOrEqual(4);
    expect(Math.max(...counting.batches)).toBeGreaterThan(1);
    for (let index = 0; index < 50; index += 1) expect((await replayed(`many-${index}`)).state.balanceMillicredits).toBe(6_000);
  });

  it('holds the commands that arrive during an ordinary commit for one append after it', async () => {
    const { executor: granter } = await writer();
    await Promise.all(Array.from({ length: 6 }, (_, index) => granter.execute(grant(`after-${index}`, 10_000))));
    const held = new HeldStore(events);
    const { executor } = await writer(held.store, { ...settings, batchOverlapMs: 60_000 });

    const first = executor.execute(spend('after-0', 1));
    // The first batch loads its account before it appends (on a server, a few round trips).
    while (held.started.length < 1) await new Promise((resolve) => setTimeout(resolve, 1));
    const rest: Promise<CommandOutcome>[] = [];
    // One command per turn of the event loop: each turn would otherwise start a batch of its own.
    for (let index = 1; index < 6; index += 1) {
      await nextTurn();
      rest.push(executor.execute(spend(`after-${index}`, 1)));
    }
    await nextTurn();
    expect(held.started).toHaveLength(1);
    held.release();

    expect((await Promise.all([first, ...rest])).map(status)).toEqual(Array(6).fill('applied'));
    expect(held.started.map((streams) => streams.length)).toEqual([1, 5]);
  });

  it('lets a further batch go beside a commit that is slow, for other accounts only', async () => {
    const { executor: granter } = await writer();
    await Promise.all(['slow', 'beside'].map((accountId) => granter.execute(grant(accountId, 10_000))));
    const held = new HeldStore(events);
    const { executor } = await writer(held.store, { ...settings, batchOverlapMs: 20 });

    const slow = executor.execute(spend('slow', 1));
    await nextTurn();
    const sameAccount = executor.execute(spend('slow', 1));
    const beside = executor.execute(spend('beside', 1));
    // The second batch starts once the first has run 20 ms, and holds only the other account.
    while (held.started.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(held.started).toEqual([[accountStreamId('slow')], [accountStreamId('beside')]]);
    held.release();

    expect((await Promise.all([slow, sameAccount, beside])).map(status)).toEqual(['applied', 'applied', 'applied']);
    expect(held.started).toHaveLength(3);
    expect((await replayed('slow')).state.balanceMillicredits).toBe(8_000);
  });

  it('replays a repeated command id inside one batch with the first one’s settled answer', async () => {
    const { executor } = await writer();
    await executor.execute(grant('twice', 10_000));
    const commandId = randomUUID();
    const [first, second] = await Promise.all([executor.execute(spend('twice', 2, commandId)), executor.execute(spend('twice', 2, commandId))]);
    expect([first?.status, second?.status]).toEqual(['applied', 'replayed']);
    expect(first?.status !== 'unchanged' && first?.status !== 'rejected' && first?.record.position).toBe(
      second?.status !== 'unchanged' && second?.status !== 'rejected' && second?.record.position,
    );
    expect((await replayed('twice')).state.balanceMillicredits).toBe(8_000);
  });

  it('answers a one-off command (no Idempotency-Key) from its record, then keeps no record of it', async () => {
    const { executor } = await writer();
    await executor.execute(grant('one-off', 10_000));
    const held = executor.heldRecords();
    const oneOff = oneOffCommandId(randomUUID());
    const [answered, keyed] = await Promise.all([executor.execute(spend('one-off', 3, oneOff)), executor.execute(spend('one-off', 2, 'client-key'))]);

    // The answer is the settled record, as for any command: it ends at the command's last event.
    const { stream } = await replayed('one-off');
    const lastEvent = stream.findLast((event) => (event.data as { commandId: string }).commandId === oneOff);
    expect(recordOf(answered)).toMatchObject({ commandId: oneOff, balanceAfterMillicredits: 7_000, position: Number(lastEvent?.position) });
    expect(recordOf(keyed).commandId).toBe('client-key');
    // Only the keyed command's record stays for its repeats.
    expect(executor.heldRecords()).toBe(held + 1);
    expect((await executor.execute(spend('one-off', 2, 'client-key'))).status).toBe('replayed');
    expect(executor.heldRecords()).toBe(held + 1);
  });

  it('drops the one-off records a load rebuilds from the log, and archives none in its snapshots', async () => {
    const first = await writer();
    await first.executor.execute(grant('one-off-load', 1_000_000));
    const oneOffs = Array.from({ length: 120 }, () => oneOffCommandId(randomUUID()));
    // Decided by another writer (as after a restart): the fresh one rebuilds their records from the log.
    await Promise.all(oneOffs.slice(0, 20).map((commandId) => first.executor.execute(spend('one-off-load', 1, commandId))));
    const { executor, accounts } = await writer();
    expect((await executor.execute(spend('one-off-load', 1, 'keyed-after-load'))).status).toBe('applied');
    // The grant's and the keyed spend's records only (the test commands' ids are keyed ids).
    expect(executor.heldRecords()).toBe(2);

    // Past the snapshot interval (100): the snapshot archives the keyed records only.
    await Promise.all(oneOffs.slice(20).map((commandId) => executor.execute(spend('one-off-load', 1, commandId))));
    await snapshotReaches('one-off-load', 100);
    const loaded = await accounts.load('one-off-load');
    const kept = new Set([...loaded.archivedCommands.keys(), ...[...loaded.state.commands.keys()].map(archiveKey)]);
    expect(oneOffs.filter((commandId) => kept.has(archiveKey(commandId)))).toEqual([]);
    expect(kept.size).toBe(2);
    const [rows] = await database.client.query<{ count: string }>(`SELECT count(*)::text AS count FROM account_command_records WHERE stream_id = $1`, [
      accountStreamId('one-off-load'),
    ]);
    expect(Number(rows?.count)).toBeLessThanOrEqual(2);
    expect((await replayed('one-off-load')).state.totalUsedMillicredits).toBe(121_000);
  });

  it('keeps two writers on one database from spending the same credits twice', async () => {
    const a = await writer();
    const b = await writer();
    await a.executor.execute(grant('shared', 100_000));
    await b.executor.execute(spend('shared', 1)); // b caches the account too

    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, index) => (index % 2 === 0 ? a : b).executor.execute(spend('shared', 1))),
    );

    const applied = outcomes.filter((outcome) => outcome.status === 'applied').length;
    expect(applied).toBe(99);
    expect(outcomes.filter((outcome) => status(outcome) === 'insufficient_credits')).toHaveLength(21);
    expect((await replayed('shared')).state.balanceMillicredits).toBe(0);
  });

  it('never refuses from a stale cache what another writer made possible', async () => {
    const a = await writer();
    const b = await writer();
    expect(status(await a.executor.execute(spend('late', 5)))).toBe('insufficient_credits');
    await b.executor.execute(grant('late', 10_000));
    expect(status(await a.executor.execute(spend('late', 5)))).toBe('applied');
  });

  it('lists a hold as open until its expiresAt, even before any expiry is recorded', async () => {
    const { executor, accounts } = await writer();
    await executor.execute(grant('holder', 10_000));
    const now = Date.now();
    const reserve = (reservationId: string, expiresInMs: number): AccountCommand => ({
      type: 'ReserveCredits',
      accountId: 'holder',
      commandId: randomUUID(),
      requestHash: randomUUID(),
      now: new Date(now).toISOString(),
      reservationId,
      service: 'sms',
      quantity: 2,
      rate: SMS_RATE,
      expiresAt: new Date(now + expiresInMs).toISOString(),
    });
    expect(status(await executor.execute(reserve('rsv-late', 2 * 3_600_000)))).toBe('applied');
    expect(status(await executor.execute(reserve('rsv-soon', 3_600_000)))).toBe('applied');
    const listAt = async (atMs: number) =>
      (await new ListOpenReservationsHandler(accounts, { now: () => new Date(atMs) }).execute(new ListOpenReservationsQuery('holder'))).items.map(
        (item) => item.reservationId,
      );

    expect(await listAt(now)).toEqual(['rsv-soon', 'rsv-late']);
    expect(await listAt(now + 3_600_000)).toEqual(['rsv-late']);
    expect(await listAt(now + 3 * 3_600_000)).toEqual([]);
  });

  it('keeps a snapshot as the account grows, and a load from it equals a full replay', async () => {
    const { executor, accounts } = await writer();
    await executor.execute(grant('long', 1_000_000));
    for (let round = 0; round < 5; round += 1) {
      await Promise.all(Array.from({ length: 50 }, () => executor.execute(spend('long', 1))));
    }
    // Snapshots are written in the background: wait for one (it fails after 10 s without).
    await snapshotReaches('long', 100);

    const loaded = await accounts.load('long');
    expect(loaded.eventsSinceSnapshot).toBeLessThan(251 - 100);
    const full = await replayed('long');
    expect(loaded.state.balanceMillicredits).toBe(full.state.balanceMillicredits);
    expect(loaded.state.totalUsedMillicredits).toBe(250_000);
    // The idempotency window is whole: records replayed since the snapshot, ids of the ones it archived.
    expectWholeWindow(loaded, full.state);
    expect(loaded.archivedCommands.size).toBeGreaterThanOrEqual(100);
    expect(loaded.expectedRevision).toBe(full.stream.length - 1);
  });

  const snapshotRevision = async (accountId: string): Promise<number> => {
    const [row] = await database.client.query<{ revision: string }>(`SELECT revision::text AS revision FROM account_snapshots WHERE stream_id = $1`, [
      accountStreamId(accountId),
    ]);
    return row === undefined ? -1 : Number(row.revision);
  };
  /** The executor writes snapshots in the background: waits until one reaches `revision`. */
  const snapshotReaches = async (accountId: string, revision: number): Promise<void> => {
    for (const started = Date.now(); (await snapshotRevision(accountId)) < revision; ) {
      if (Date.now() - started > 10_000) throw new Error(`no snapshot of ${accountId} at revision ${revision}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  /** An account whose snapshot has archived the spend `commandId` (answered `first`), among 120 more spends. */
  const archivedAccount = async (accountId: string, quantity: number, commandId: string) => {
    const { executor } = await writer();
    await executor.execute(grant(accountId, 1_000_000));
    const first = await executor.execute(spend(accountId, quantity, commandId));
    await Promise.all(Array.from({ length: 120 }, () => executor.execute(spend(accountId, 1))));
    await snapshotReaches(accountId, 100);
    return { executor, first };
  };

  it('keeps snapshotting a busy account, so a load replays about one interval however long the history', async () => {
    const { executor } = await writer();
    await executor.execute(grant('busy', 10_000_000));
    // 12 intervals of snapshotEveryEvents (100): every snapshot after the first must still be taken.
    for (let round = 0; round < 24; round += 1) {
      await Promise.all(Array.from({ length: 50 }, () => executor.execute(spend('busy', 1))));
    }
    await snapshotReaches('busy', 1_100);

    const loaded = await (await writer()).accounts.load('busy');
    expect(loaded.expectedRevision).toBe(1_200);
    expect(loaded.eventsSinceSnapshot).toBeLessThanOrEqual(200);
    // The window is whole: every command is either replayed since the snapshot or archived.
    const full = await replayed('busy');
    expectWholeWindow(loaded, full.state);
    expect(loaded.state.commands.size).toBeLessThanOrEqual(200);
    expect(loaded.state.totalUsedMillicredits).toBe(1_200_000);
  });

  it('answers a repeat of a command a snapshot archived exactly as the first time, in a fresh writer and in the one that archived it', async () => {
    const { executor } = await writer();
    await executor.execute(grant('archived', 1_000_000));
    const first = await executor.execute(spend('archived', 7, 'archived-key'));
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(Array.from({ length: 50 }, () => executor.execute(spend('archived', 1))));
    }
    await snapshotReaches('archived', 100);
    const [archivedRow] = await database.client.query<{ record: string }>(
      `SELECT record FROM account_command_records WHERE stream_id = $1 AND command_id = 'archived-key'`,
      [accountStreamId('archived')],
    );
    expect(archivedRow).toBeDefined();

    // The writer that archived it no longer holds the record: it recalls it from the archive.
    const again = await executor.execute(spend('archived', 7, 'archived-key'));
    expect(again.status).toBe('replayed');
    expect(recordOf(again)).toEqual(recordOf(first));

    // A fresh writer loads the snapshot, which holds only the id.
    const fresh = await writer();
    const loaded = await fresh.accounts.load('archived');
    expect(loaded.archivedCommands.recordedAt(archiveKey('archived-key'))).toBeDefined();
    expect(loaded.state.commands.has('archived-key')).toBe(false);
    const repeat = await fresh.executor.execute(spend('archived', 7, 'archived-key'));
    expect(repeat.status).toBe('replayed');
    expect(recordOf(repeat)).toEqual(recordOf(first));
    // The same key with another request is refused, and nothing was charged twice.
    expect(status(await fresh.executor.execute(spend('archived', 8, 'archived-key')))).toBe('idempotency_key_reused');
    const { stream, state } = await replayed('archived');
    expect(stream.filter((event) => (event.data as { commandId: string }).commandId === 'archived-key')).toHaveLength(1);
    expect(state.totalUsedMillicredits).toBe(7_000 + 150_000);
  });

  it('archives a record with the summary of its event, and answers a record archived whole by an earlier version the same', async () => {
    const { first } = await archivedAccount('whole', 5, 'whole-key');
    const streamId = accountStreamId('whole');
    const [row] = await database.client.query<{ record: string }>(
      `SELECT record FROM account_command_records WHERE stream_id = $1 AND command_id = 'whole-key'`,
      [streamId],
    );
    const archived = JSON.parse(row?.record ?? 'null') as { event: { type: string; data: Record<string, unknown> } };
    expect(archived.event).toStrictEqual({
      type: 'CreditsUsed',
      data: { usageId: expect.any(String), service: 'sms', quantity: 5, chargedMillicredits: 5_000 },
    });

    // Rewrite the record as snapshot version 4 archived it: with the whole event, draws and all.
    const { stream } = await replayed('whole');
    const whole = stream.find((event) => (event.data as { commandId: string }).commandId === 'whole-key');
    if (whole === undefined) throw new Error('the log holds no event of whole-key');
    const event = decodeAccountEvent(whole);
    expect(Object.keys(event.data)).toEqual(expect.arrayContaining(['draws', 'metadata', 'rateCardVersion']));
    await database.client.query(`UPDATE account_command_records SET record = $3 WHERE stream_id = $1 AND command_id = $2`, [
      streamId,
      'whole-key',
      JSON.stringify({ ...archived, event }),
    ]);

    const fresh = await writer();
    const repeat = await fresh.executor.execute(spend('whole', 5, 'whole-key'));
    expect(repeat.status).toBe('replayed');
    expect(recordOf(repeat)).toStrictEqual(recordOf(first));
  });

  /** The account's archived commands, oldest first: ids and when each was recorded (epoch ms), from their records' rows. */
  const archivedRows = async (streamId: string) => {
    const rows = await database.client.query<{ command_id: string; at: string }>(
      `SELECT command_id, (extract(epoch FROM recorded_at) * 1000)::bigint::text AS at FROM account_command_records WHERE stream_id = $1 ORDER BY recorded_at`,
      [streamId],
    );
    expect(rows.length).toBeGreaterThanOrEqual(100);
    return rows.map((row) => ({ commandId: row.command_id, at: Number(row.at) }));
  };

  /** Replaces every chunk of the account with one chunk in `commands`, as a process of an earlier version wrote it. */
  const rewriteChunks = async (streamId: string, commands: string) => {
    await database.client.query(`DELETE FROM account_archived_commands WHERE stream_id = $1`, [streamId]);
    await database.client.query(
      `INSERT INTO account_archived_commands (stream_id, chunk_id, newest_recorded_at, commands) VALUES ($1, $2, now(), $3)`,
      [streamId, randomUUID(), commands],
    );
  };

  it.each([
    ['the JSON form of ids (version 3)', (rows: readonly { commandId: string; at: number }[]) =>
      JSON.stringify({ ids: rows.map((row) => row.commandId), recordedAt: rows.map((row) => row.at) })],
    ['float64 pairs in base64 (version 4)', version4Chunk],
  ])('reads archive chunks written as %s', async (_form, chunkOf) => {
    const accountId = `earlier-${chunkOf === version4Chunk ? 4 : 3}`;
    const { first } = await archivedAccount(accountId, 4, `${accountId}-key`);
    const streamId = accountStreamId(accountId);
    const rows = await archivedRows(streamId);
    await rewriteChunks(streamId, chunkOf(rows));

    const fresh = await writer();
    const loaded = await fresh.accounts.load(accountId);
    expectWholeWindow(loaded, (await replayed(accountId)).state);
    expect(loaded.archivedCommands.recordedAt(archiveKey(`${accountId}-key`))).toBe(rows.find((row) => row.commandId === `${accountId}-key`)?.at);
    const repeat = await fresh.executor.execute(spend(accountId, 4, `${accountId}-key`));
    expect(repeat.status).toBe('replayed');
    expect(recordOf(repeat)).toEqual(recordOf(first));
  });

  it('packs its chunks, leaving processes of snapshot versions 3 and 4 a chunk they parse as archiving nothing, under snapshots they ignore; and starts from their snapshots', async () => {
    const { first } = await archivedAccount('mixed', 6, 'mixed-key');
    const streamId = accountStreamId('mixed');
    // What an earlier process does with them: it reads only rows of its own versions, and parses every
    // chunk's `commands`, as { ids, recordedAt } (version 3) or as base64 pairs in `keys` (version 4).
    const [row] = await database.client.query<{ version: number }>(`SELECT version FROM account_snapshots WHERE stream_id = $1`, [streamId]);
    expect(row?.version).toBe(5);
    const chunks = await database.client.query<{ commands: string; packed_bytes: number | null }>(
      `SELECT commands, length(packed) AS packed_bytes FROM account_archived_commands WHERE stream_id = $1`,
      [streamId],
    );
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) {
      expect(JSON.parse(chunk.commands)).toStrictEqual({ ids: [], recordedAt: [], keys: '' });
      expect(chunk.packed_bytes).toBeGreaterThan(0);
    }
    // Packed, a command takes 7 bytes of key and 1 to 8 of time: well under the 16 of version 4.
    const archived = (await writer()).accounts;
    const loadedNow = await archived.load('mixed');
    const packedBytes = chunks.reduce((sum, chunk) => sum + (chunk.packed_bytes ?? 0), 0);
    expect(packedBytes).toBeLessThan(loadedNow.archivedCommands.size * 12);

    for (const version of [3, 4]) {
      // A snapshot of an earlier version (the same state) is loaded, not replayed from the start.
      await database.client.query(`UPDATE account_snapshots SET version = $2 WHERE stream_id = $1`, [streamId, version]);
      const fresh = await writer();
      const loaded = await fresh.accounts.load('mixed');
      expect(loaded.eventsSinceSnapshot).toBeLessThan(122 - 90);
      expectWholeWindow(loaded, (await replayed('mixed')).state);
      const repeat = await fresh.executor.execute(spend('mixed', 6, 'mixed-key'));
      expect(repeat.status).toBe('replayed');
      expect(recordOf(repeat)).toEqual(recordOf(first));
    }
  });

  it('refuses to load an account whose archive chunk was cut short, rather than forget the ids it held', async () => {
    const { executor } = await writer();
    await executor.execute(grant('cut', 1_000_000));
    await Promise.all(Array.from({ length: 120 }, () => executor.execute(spend('cut', 1))));
    await snapshotReaches('cut', 100);
    const streamId = accountStreamId('cut');
    const rows = await archivedRows(streamId);
    const [chunk] = await database.client.query<{ chunk_id: string }>(`SELECT chunk_id::text AS chunk_id FROM account_archived_commands WHERE stream_id = $1`, [
      streamId,
    ]);
    await database.client.query(`UPDATE account_archived_commands SET packed = substring(packed FROM 1 FOR 100) WHERE chunk_id = $1::uuid`, [chunk?.chunk_id]);
    await expect((await writer()).accounts.load('cut')).rejects.toThrow(/packed archive chunk of 100 bytes is not whole/);

    // A chunk of version 4, cut.
    const whole = JSON.parse(version4Chunk(rows)) as { keys: string };
    await rewriteChunks(streamId, JSON.stringify({ ...whole, keys: Buffer.from(whole.keys, 'base64').subarray(0, 100).toString('base64') }));
    await expect((await writer()).accounts.load('cut')).rejects.toThrow(/archive chunk of 100 bytes is not whole \(pairs of 16\)/);
  });

  it('never applies a command again when the archive lost the record its snapshot names', async () => {
    await archivedAccount('lost', 3, 'lost-key');
    await database.client.query(`DELETE FROM account_command_records WHERE stream_id = $1 AND command_id = 'lost-key'`, [accountStreamId('lost')]);

    const fresh = await writer();
    await expect(fresh.executor.execute(spend('lost', 3, 'lost-key'))).rejects.toThrow(/archived records of lost-key are missing/);
    const { stream } = await replayed('lost');
    expect(stream.filter((event) => (event.data as { commandId: string }).commandId === 'lost-key')).toHaveLength(1);
  });

  /**
   * Four accounts, each granted credits, spent once with `${id}-first`, then 30 more times,
   * interleaved: EARLY_SNAPSHOT_EVENTS (32) events each, the last one in the last batch.
   */
  const fourBusyAccounts = async (prefix: string, executor: AccountCommandExecutor) => {
    const ids = ['a', 'b', 'c', 'd'].map((suffix) => `${prefix}-${suffix}`);
    const firsts = new Map<string, CommandOutcome>();
    for (const id of ids) {
      await executor.execute(grant(id, 1_000_000));
      firsts.set(id, await executor.execute(spend(id, 3, `${id}-first`)));
    }
    for (let round = 0; round < EARLY_SNAPSHOT_EVENTS - 2; round += 1) await Promise.all(ids.map((id) => executor.execute(spend(id, 1))));
    return { ids, firsts };
  };

  it('snapshots accounts early while the cached accounts together hold more unarchived events than the budget', async () => {
    // Below one account's EARLY_SNAPSHOT_EVENTS, so each account's snapshot leaves the total over it.
    const budget = 10;
    const { executor } = await writer(events, { ...settings, unarchivedEventsBudget: budget });
    const { ids, firsts } = await fourBusyAccounts('budget', executor);
    // 128 events in all, past the budget since the first round; each account's 32nd event
    // (revision 31, under snapshotEveryEvents) comes in the last round and is snapshotted there.
    for (const id of ids) {
      await snapshotReaches(id, EARLY_SNAPSHOT_EVENTS - 1);
      expect(await snapshotRevision(id)).toBe(EARLY_SNAPSHOT_EVENTS - 1);
    }
    expect(executor.unarchivedEvents).toBe(0);
    // The archived records left memory though no batch of their account came after the snapshot.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(executor.heldRecords()).toBe(0);
    for (const id of ids) {
      // The first spend's record was archived: the repeat is answered from there, exactly, and charges nothing.
      const again = await executor.execute(spend(id, 3, `${id}-first`));
      expect(again.status).toBe('replayed');
      expect(recordOf(again)).toEqual(recordOf(firsts.get(id)));
      const { state } = await replayed(id);
      expect(state.totalUsedMillicredits).toBe(3_000 + (EARLY_SNAPSHOT_EVENTS - 2) * 1_000);
    }
  });

  it('counts only held records against the budget: accounts of one-off commands keep their snapshot interval', async () => {
    const { executor } = await writer(events, { ...settings, unarchivedEventsBudget: 10 });
    const ids = ['one-off-budget-a', 'one-off-budget-b'];
    for (const id of ids) await executor.execute(grant(id, 1_000_000));
    // The grants' records are held: 2 events of 10.
    expect(executor.unarchivedEvents).toBe(2);
    for (let round = 0; round < EARLY_SNAPSHOT_EVENTS + 8; round += 1) {
      await Promise.all(ids.map((id) => executor.execute(spend(id, 1, oneOffCommandId(randomUUID())))));
    }
    // 80 one-off events past the budget of 10, yet none of them counts, and nothing is due early.
    expect(executor.unarchivedEvents).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const id of ids) expect(await snapshotRevision(id)).toBe(-1);

    // Keyed spends do count: past the budget, an account holding 32 records is snapshotted early.
    for (let round = 0; round < 5; round += 1) {
      await Promise.all(ids.map((id) => executor.execute(spend(id, 1))));
    }
    expect(executor.unarchivedEvents).toBe(12);
    for (let round = 5; round < EARLY_SNAPSHOT_EVENTS; round += 1) {
      await Promise.all(ids.map((id) => executor.execute(spend(id, 1))));
    }
    for (const id of ids) await snapshotReaches(id, 1 + EARLY_SNAPSHOT_EVENTS + 8 + EARLY_SNAPSHOT_EVENTS - 2);
  });

  it('leaves accounts to their snapshot interval while the cached accounts stay within the budget', async () => {
    const { executor } = await writer();
    const { ids } = await fourBusyAccounts('within', executor);
    expect(executor.unarchivedEvents).toBe(ids.length * EARLY_SNAPSHOT_EVENTS);
    expect(executor.heldRecords()).toBe(ids.length * EARLY_SNAPSHOT_EVENTS);
    // Snapshots are written in the background: give one the time it would take.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const id of ids) expect(await snapshotRevision(id)).toBe(-1);
  });

  it('forgets archived records once the idempotency window has passed them', async () => {
    const { executor } = await writer();
    const dayMs = 24 * 3_600_000;
    const at = (command: AccountCommand, agoMs: number): AccountCommand => ({ ...command, now: new Date(Date.now() - agoMs).toISOString() });
    await executor.execute(at(grant('forgetful', 1_000_000), 3 * dayMs));
    await executor.execute(at(spend('forgetful', 2, 'old-key'), 3 * dayMs));
    await Promise.all(Array.from({ length: 120 }, () => executor.execute(spend('forgetful', 1))));
    await snapshotReaches('forgetful', 100);

    const keys = await database.client.query<{ command_id: string }>(`SELECT command_id FROM account_command_records WHERE stream_id = $1`, [
      accountStreamId('forgetful'),
    ]);
    expect(keys.map((row) => row.command_id)).not.toContain('old-key');
    expect(keys.length).toBeGreaterThanOrEqual(99);
    const loaded = await (await writer()).accounts.load('forgetful');
    expect(loaded.archivedCommands.recordedAt(archiveKey('old-key'))).toBeUndefined();
    // Outside the window the key is free again: the same request is a new spend.
    expect(status(await executor.execute(spend('forgetful', 2, 'old-key')))).toBe('applied');
  });
});
