import { randomUUID } from 'node:crypto';
import { endianness } from 'node:os';
import type { CommandRecord } from '../../domain/account.state';
import { archiveKey, ArchivedCommandIndex } from '../../application/accounts/archived-commands';
import {
  ACCOUNT_SNAPSHOT_VERSION,
  READABLE_SNAPSHOT_VERSIONS,
  decodeCommandRecord,
  deserializeAccountState,
  serializeAccountState,
  type AccountSnapshot,
  type SerializedAccountState,
  type SnapshotStore,
  type SnapshotToWrite,
  type StoredCommandRecord,
} from '../../application/accounts/account-snapshot';
import { packArchiveChunk, unpackArchiveChunk } from './packed-archive-chunk';
import type { SqlClient } from './sql-client';

const SNAPSHOTS_TABLE = 'account_snapshots';
const RECORDS_TABLE = 'account_command_records';
const ARCHIVE_TABLE = 'account_archived_commands';

const SNAPSHOT_MIGRATION_LOCK_KEY = 4_817_301_160; // next to the others (4_817_301_155-159), none shared

const SNAPSHOTS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS ${SNAPSHOTS_TABLE} (
    stream_id text PRIMARY KEY,
    version integer NOT NULL,
    revision bigint NOT NULL,
    position bigint NOT NULL,
    last_hash text NOT NULL,
    state text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
  );
  -- Snapshot version 2 (processes of an earlier version) kept every archived id here, rewritten by each snapshot.
  ALTER TABLE ${SNAPSHOTS_TABLE} ADD COLUMN IF NOT EXISTS archived_commands text NOT NULL DEFAULT '{"ids":[],"recordedAt":[]}';
`;

/**
 * Which commands are archived: one row per snapshot, naming the records it archived. The
 * records' own rows are not the list: a record lost from ${RECORDS_TABLE} must still be
 * known as archived, so its command is refused rather than applied a second time.
 */
const ARCHIVE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS ${ARCHIVE_TABLE} (
    stream_id text NOT NULL,
    chunk_id uuid NOT NULL,
    newest_recorded_at timestamptz NOT NULL,
    commands text NOT NULL,
    PRIMARY KEY (stream_id, chunk_id)
  );
  -- Read whole at every load: kept uncompressed, which reads back faster than pglz decompresses.
  ALTER TABLE ${ARCHIVE_TABLE} ALTER COLUMN commands SET STORAGE EXTERNAL;
  CREATE INDEX IF NOT EXISTS ${ARCHIVE_TABLE}_newest ON ${ARCHIVE_TABLE} (stream_id, newest_recorded_at);
`;

/**
 * Snapshot version 5 writes its chunks packed (packed-archive-chunk.ts) into their own
 * column, and leaves in `commands` a chunk of version 4 that names nothing (EMPTY_CHUNK).
 * Uncompressed too: the keys are random bits.
 */
const ARCHIVE_PACKED_SCHEMA = `
  ALTER TABLE ${ARCHIVE_TABLE} ADD COLUMN IF NOT EXISTS packed bytea;
  ALTER TABLE ${ARCHIVE_TABLE} ALTER COLUMN packed SET STORAGE EXTERNAL;
`;

const RECORDS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS ${RECORDS_TABLE} (
    stream_id text NOT NULL,
    command_id text NOT NULL,
    recorded_at timestamptz NOT NULL,
    position bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (stream_id, command_id)
  );
  CREATE INDEX IF NOT EXISTS ${RECORDS_TABLE}_recorded_at ON ${RECORDS_TABLE} (stream_id, recorded_at);
`;

/**
 * Snapshots written together: the writer snapshots many accounts a second (early ones
 * every few dozen events while the records budget binds), and each alone took a
 * transaction of its own, six round trips and a WAL flush, and held a pooled connection
 * the appends share. MAX_FLUSHES_IN_FLIGHT groups are written at once, so large snapshots
 * still use both cores; every group takes its rows in stream order, so two groups that
 * share a stream wait on each other at most, never in a cycle.
 */
const MAX_GROUP_SNAPSHOTS = 256;
const MAX_GROUP_RECORDS = 20_000;
const MAX_FLUSHES_IN_FLIGHT = 2;

/** A snapshot serialized by `write`, waiting for its group's transaction. */
interface QueuedSnapshot {
  readonly snapshot: SnapshotToWrite;
  /** The state without its records, as JSON. */
  readonly state: string;
  /** Every record of the state: the snapshot's chunk names them all. */
  readonly records: readonly CommandRecord[];
  /** The records that get a row: those not older than `forgetBefore`. */
  readonly rows: readonly CommandRecord[];
  /** Those rows as JSON, without the array's brackets ('' when there are none). */
  readonly rowsJson: string;
  readonly newestRecordedAt: number;
  readonly forgetBefore: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface SnapshotRow {
  readonly revision: string;
  readonly position: string;
  readonly last_hash: string;
  readonly state: string;
}

/**
 * The commands one snapshot of version 4 archived, as JSON: `keys` is base64 of one
 * little-endian float64 pair per command, its archiveKey and when it was recorded (epoch
 * ms). A chunk of 33,000 commands is 700 KB instead of 2 MB of JSON ids, and is read
 * without parsing or hashing one string. `ids` and `recordedAt` are there, empty, for
 * processes of snapshot version 3, which wrote the ids themselves (LegacyChunk): such a
 * process reads such a chunk as archiving nothing, and never needs it, since it ignores
 * the version-4 snapshots these chunks belong to (a version-3 snapshot it writes later
 * archives its whole window again, from a full replay or from its own earlier snapshot).
 *
 * Version 5 packs its chunks in the `packed` column and leaves EMPTY_CHUNK here, which
 * processes of versions 3 and 4 read as archiving nothing, under version-5 snapshots they
 * ignore, in the same way.
 */
interface ArchivedChunk {
  readonly ids: readonly [];
  readonly recordedAt: readonly [];
  readonly keys: string;
}

/** The commands one snapshot archived, as version 3 wrote them: two parallel arrays. */
interface LegacyChunk {
  readonly ids: readonly string[];
  readonly recordedAt: readonly number[];
  readonly keys?: undefined;
}

const PAIR_BYTES = 16;
const LITTLE_ENDIAN = endianness() === 'LE';
const EMPTY_CHUNK = JSON.stringify({ ids: [], recordedAt: [], keys: '' } satisfies ArchivedChunk);

/** A snapshot's chunk as sent to Postgres: the packed bytes in base64, decoded there. */
const packChunk = (records: readonly CommandRecord[]): string =>
  packArchiveChunk(
    records.map((record) => archiveKey(record.commandId)),
    records.map((record) => Date.parse(record.recordedAt)),
  ).toString('base64');

/** A chunk as read: packed (version 5, in base64, under EMPTY_CHUNK) or else a chunk of version 3 or 4. */
interface ChunkRow {
  readonly commands: string;
  readonly packed: string | null;
}

/** A chunk's (key, recorded at) pairs, in their order. */
const chunkPairs = (row: ChunkRow): Float64Array => {
  if (row.packed !== null) return unpackArchiveChunk(Buffer.from(row.packed, 'base64'));
  const chunk = JSON.parse(row.commands) as ArchivedChunk | LegacyChunk;
  if (chunk.keys === undefined) {
    const { ids, recordedAt } = chunk;
    const pairs = new Float64Array(ids.length * 2);
    ids.forEach((id, index) => {
      pairs[2 * index] = archiveKey(id);
      pairs[2 * index + 1] = recordedAt[index] ?? 0;
    });
    return pairs;
  }
  const bytes = Buffer.from(chunk.keys, 'base64');
  // A cut chunk would silently forget ids, and a repeat of one would be applied again.
  if (bytes.length % PAIR_BYTES !== 0) throw new Error(`an archive chunk of ${bytes.length} bytes is not whole (pairs of ${PAIR_BYTES})`);
  const pairs = new Float64Array(bytes.length / 8);
  if (LITTLE_ENDIAN) new Uint8Array(pairs.buffer).set(bytes);
  else for (let index = 0; index < pairs.length; index += 1) pairs[index] = bytes.readDoubleLE(index * 8);
  return pairs;
};

/**
 * Account snapshots in Postgres (beside the read models, whichever store keeps the
 * events): one row per stream, replaced only by a newer revision. The state is kept as
 * text, parsed in one JSON.parse, which is faster than jsonb for a large state. The
 * records of the idempotency window are kept one row per command, read back only for
 * the commands that repeat; their ids are kept one chunk per snapshot (as archive keys,
 * see ArchivedChunk), so a snapshot writes only the ids it archives and a read decodes
 * every chunk straight into the index.
 */
export class PostgresSnapshotStore implements SnapshotStore {
  private readonly queue: QueuedSnapshot[] = [];
  private flushesInFlight = 0;
  private flushScheduled = false;
  private transactions = 0;

  private constructor(private readonly sql: SqlClient) {}

  /**
   * Creates what is missing, and only that: DDL on a table in use would queue behind (and
   * deadlock with) another process's snapshot writes. One process migrates at a time.
   */
  static async open(sql: SqlClient): Promise<PostgresSnapshotStore> {
    await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${SNAPSHOT_MIGRATION_LOCK_KEY})`);
      const [found] = await tx.query<{ records: string | null; archive: string | null; archived: boolean; packed: boolean }>(
        `SELECT to_regclass('${RECORDS_TABLE}')::text AS records, to_regclass('${ARCHIVE_TABLE}')::text AS archive,
                EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = '${SNAPSHOTS_TABLE}' AND column_name = 'archived_commands') AS archived,
                EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = '${ARCHIVE_TABLE}' AND column_name = 'packed') AS packed`,
      );
      if (found?.archived !== true) await tx.execScript(SNAPSHOTS_SCHEMA);
      if (found?.records === null || found?.records === undefined) await tx.execScript(RECORDS_SCHEMA);
      if (found?.archive === null || found?.archive === undefined) await tx.execScript(ARCHIVE_SCHEMA);
      if (found?.packed !== true) await tx.execScript(ARCHIVE_PACKED_SCHEMA);
    });
    return new PostgresSnapshotStore(sql);
  }

  async read(streamId: string): Promise<AccountSnapshot | undefined> {
    // The snapshot first, the list after: the list then holds every chunk of this snapshot
    // (written in its transaction) and perhaps newer ones, which only name records the replay
    // after this snapshot brings back anyway. The other order could miss a newer snapshot's chunk.
    const [row] = await this.sql.query<SnapshotRow>(
      `SELECT revision::text AS revision, position::text AS position, last_hash, state
         FROM ${SNAPSHOTS_TABLE} WHERE stream_id = $1 AND version = ANY($2::int[])`,
      [streamId, READABLE_SNAPSHOT_VERSIONS],
    );
    if (row === undefined) return undefined;
    // A packed chunk comes as base64 text: as bytea it would come as hex, twice its size.
    const chunks = await this.sql.query<ChunkRow>(
      `SELECT commands, encode(packed, 'base64') AS packed
         FROM ${ARCHIVE_TABLE} WHERE stream_id = $1 ORDER BY newest_recorded_at`,
      [streamId],
    );
    // Chunks oldest first, so the index is about oldest first too (releaseArchived forgets from the front).
    const parts = chunks.map(chunkPairs);
    const pairs = new Float64Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      pairs.set(part, offset);
      offset += part.length;
    }
    const archivedCommands = ArchivedCommandIndex.fromPairs(pairs);
    return {
      streamId,
      revision: Number(row.revision),
      position: Number(row.position),
      lastHash: row.last_hash,
      state: deserializeAccountState(JSON.parse(row.state) as SerializedAccountState),
      archivedCommands,
    };
  }

  /**
   * Serializes the snapshot at once (the caller's state may move on after this returns) and
   * queues it: the queued snapshots are written together, one transaction for all of them.
   */
  write(snapshot: SnapshotToWrite, forgetBefore: number): Promise<void> {
    const records = [...snapshot.state.commands.values()];
    const rows: CommandRecord[] = [];
    let newest = Number.NEGATIVE_INFINITY;
    for (const record of records) {
      const recordedAt = Date.parse(record.recordedAt);
      newest = Math.max(newest, recordedAt);
      // One the write would forget at once gets no row (see writeGroup).
      if (!(recordedAt < forgetBefore)) rows.push(record);
    }
    const queued: Omit<QueuedSnapshot, 'resolve' | 'reject'> = {
      snapshot,
      // The records go to their own rows: the state is serialized without them.
      state: JSON.stringify(serializeAccountState({ ...snapshot.state, commands: new Map() })),
      records,
      rows,
      rowsJson: rows.length === 0 ? '' : JSON.stringify(rows).slice(1, -1),
      newestRecordedAt: newest,
      forgetBefore,
    };
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...queued, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Snapshots queued, not yet being written (a diagnostic). */
  get queuedSnapshots(): number {
    return this.queue.length;
  }

  /** Transactions begun to write snapshots so far, each for one or more of them, failed ones included (a diagnostic). */
  get snapshotTransactions(): number {
    return this.transactions;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushesInFlight >= MAX_FLUSHES_IN_FLIGHT) return;
    this.flushScheduled = true;
    // One turn of the event loop lets the snapshots taken together go in one transaction.
    setImmediate(() => {
      this.flushScheduled = false;
      while (this.flushesInFlight < MAX_FLUSHES_IN_FLIGHT) {
        const group = this.takeGroup();
        if (group.length === 0) return;
        this.flushesInFlight += 1;
        void this.flush(group).finally(() => {
          this.flushesInFlight -= 1;
          if (this.queue.length > 0) this.scheduleFlush();
        });
      }
    });
  }

  /**
   * Queued snapshots in queue order, at most one per stream (one statement may not touch
   * a row twice), up to MAX_GROUP_SNAPSHOTS and MAX_GROUP_RECORDS (at least one snapshot).
   * A stream's next snapshot may go in a flush beside the one writing its last: it waits
   * only on the rows both write. Held back until that flush ends, a hot account's next
   * snapshots took in the records the one in flight had not yet released, grew with each
   * wait, and cut the hot-account rate by a quarter (bench/README.md).
   */
  private takeGroup(): QueuedSnapshot[] {
    const group: QueuedSnapshot[] = [];
    const kept: QueuedSnapshot[] = [];
    const streams = new Set<string>();
    let records = 0;
    for (const queued of this.queue) {
      const { streamId } = queued.snapshot;
      const fits = group.length === 0 || (group.length < MAX_GROUP_SNAPSHOTS && records + queued.records.length <= MAX_GROUP_RECORDS);
      if (fits && !streams.has(streamId)) {
        group.push(queued);
        streams.add(streamId);
        records += queued.records.length;
      } else {
        kept.push(queued);
      }
    }
    this.queue.length = 0;
    for (const queued of kept) this.queue.push(queued);
    // Rows in stream order: two groups (of this process or another) that share streams take their locks in one order.
    return group.sort((a, b) => (a.snapshot.streamId < b.snapshot.streamId ? -1 : a.snapshot.streamId > b.snapshot.streamId ? 1 : 0));
  }

  /** Writes a group in one transaction; if that fails, each snapshot alone, so one bad snapshot fails only itself. */
  private async flush(group: readonly QueuedSnapshot[]): Promise<void> {
    try {
      await this.writeGroup(group);
      for (const queued of group) queued.resolve();
      return;
    } catch (error) {
      if (group.length === 1) {
        group[0]?.reject(error);
        return;
      }
    }
    for (const queued of group) {
      try {
        await this.writeGroup([queued]);
        queued.resolve();
      } catch (error) {
        queued.reject(error);
      }
    }
  }

  /**
   * In one statement (so one round trip and one implicit transaction), for every snapshot of
   * the group: archives its records (the rows, and their keys as one chunk), forgets
   * archived records recorded before its `forgetBefore`, and keeps the snapshot unless a
   * newer revision is already kept. As a transaction of up to seven round trips (BEGIN, five
   * statements, COMMIT), a snapshot of 32 records written alone cost about 80% more CPU
   * (bench/README.md, "Snapshots written together").
   *
   * The parts of one statement all see the rows as they were before it, and Postgres does
   * not promise which of two changes to one row in a statement wins. So none touches a row
   * another part writes: the forgetting leaves alone the records the statement upserts, and
   * a record or chunk older than its snapshot's `forgetBefore` is not written at all (in a
   * transaction it was written and then forgotten). The end state is the same.
   */
  private async writeGroup(group: readonly QueuedSnapshot[]): Promise<void> {
    this.transactions += 1;
    const chunks = group.filter((queued) => queued.records.length > 0 && !(queued.newestRecordedAt < queued.forgetBefore));
    const streams: string[] = [];
    const commandIds: string[] = [];
    const recordedAt: string[] = [];
    const positions: number[] = [];
    const rowsJson: string[] = [];
    for (const queued of group) {
      if (queued.rows.length === 0) continue;
      for (const record of queued.rows) {
        streams.push(queued.snapshot.streamId);
        commandIds.push(record.commandId);
        recordedAt.push(record.recordedAt);
        positions.push(record.position);
      }
      rowsJson.push(queued.rowsJson);
    }
    await this.sql.query(
      // States and records as JSON arrays, whose elements' text is kept as sent: a text[] of
      // JSON texts made pg escape every quote of every record, the most garbage a spend made.
      `WITH snapshot AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[])
           WITH ORDINALITY AS t(stream_id, revision, position, last_hash, forget_before, ord)
       ), incoming AS (
         SELECT * FROM unnest($8::text[], $9::text[], $10::timestamptz[], $11::bigint[])
           WITH ORDINALITY AS t(stream_id, command_id, recorded_at, position, ord)
       ), chunks AS (
         INSERT INTO ${ARCHIVE_TABLE} (stream_id, chunk_id, newest_recorded_at, commands, packed)
           SELECT t.stream_id, t.chunk_id, t.newest, '${EMPTY_CHUNK}', decode(t.packed, 'base64')
             FROM unnest($13::text[], $14::uuid[], $15::timestamptz[], $16::text[]) AS t(stream_id, chunk_id, newest, packed)
       ), records AS (
         INSERT INTO ${RECORDS_TABLE} AS r (stream_id, command_id, recorded_at, position, record)
           SELECT t.stream_id, t.command_id, t.recorded_at, t.position, e.record::text
             FROM incoming AS t JOIN json_array_elements($12::json) WITH ORDINALITY AS e(record, ord) ON e.ord = t.ord
         ON CONFLICT (stream_id, command_id) DO UPDATE
           SET recorded_at = excluded.recorded_at, position = excluded.position, record = excluded.record
         WHERE r.position < excluded.position
       ), forgotten_records AS (
         DELETE FROM ${RECORDS_TABLE} AS r USING snapshot AS f
          WHERE r.stream_id = f.stream_id AND r.recorded_at < f.forget_before
            AND NOT EXISTS (SELECT 1 FROM incoming AS i WHERE i.stream_id = r.stream_id AND i.command_id = r.command_id)
       ), forgotten_chunks AS (
         DELETE FROM ${ARCHIVE_TABLE} AS a USING snapshot AS f
          WHERE a.stream_id = f.stream_id AND a.newest_recorded_at < f.forget_before
       )
       INSERT INTO ${SNAPSHOTS_TABLE} AS s (stream_id, version, revision, position, last_hash, state)
         SELECT t.stream_id, $6, t.revision, t.position, t.last_hash, e.state::text
           FROM snapshot AS t JOIN json_array_elements($7::json) WITH ORDINALITY AS e(state, ord) ON e.ord = t.ord
       ON CONFLICT (stream_id) DO UPDATE
         SET version = excluded.version, revision = excluded.revision, position = excluded.position,
             last_hash = excluded.last_hash, state = excluded.state, taken_at = now()
       WHERE s.version <> excluded.version OR s.revision < excluded.revision`,
      [
        group.map((queued) => queued.snapshot.streamId),
        group.map((queued) => queued.snapshot.revision),
        group.map((queued) => queued.snapshot.position),
        group.map((queued) => queued.snapshot.lastHash),
        // No forgetting (NEGATIVE_INFINITY) is a NULL bound, which no row is before.
        group.map((queued) => (Number.isFinite(queued.forgetBefore) ? new Date(queued.forgetBefore).toISOString() : null)),
        ACCOUNT_SNAPSHOT_VERSION,
        `[${group.map((queued) => queued.state).join(',')}]`,
        streams,
        commandIds,
        recordedAt,
        positions,
        `[${rowsJson.join(',')}]`,
        chunks.map((queued) => queued.snapshot.streamId),
        chunks.map(() => randomUUID()),
        chunks.map((queued) => new Date(queued.newestRecordedAt).toISOString()),
        chunks.map((queued) => packChunk(queued.records)),
      ],
    );
  }

  async recallCommands(streamId: string, commandIds: readonly string[]): Promise<readonly CommandRecord[]> {
    if (commandIds.length === 0) return [];
    const rows = await this.sql.query<{ record: string }>(
      `SELECT record FROM ${RECORDS_TABLE} WHERE stream_id = $1 AND command_id = ANY($2::text[])`,
      [streamId, commandIds],
    );
    return rows.map((row) => decodeCommandRecord(JSON.parse(row.record) as StoredCommandRecord));
  }
}
