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
import type { SqlClient, SqlExecutor } from './sql-client';

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

interface SnapshotRow {
  readonly revision: string;
  readonly position: string;
  readonly last_hash: string;
  readonly state: string;
}

/**
 * The commands one snapshot archived, as JSON: `keys` is base64 of one little-endian
 * float64 pair per command, its archiveKey and when it was recorded (epoch ms). A chunk
 * of 33,000 commands is 700 KB instead of 2 MB of JSON ids, and is read without parsing
 * or hashing one string. `ids` and `recordedAt` are there, empty, for processes of
 * snapshot version 3, which wrote the ids themselves (LegacyChunk): such a process reads
 * such a chunk as archiving nothing, and never needs it, since it ignores the version-4
 * snapshots these chunks belong to (a version-3 snapshot it writes later archives its
 * whole window again, from a full replay or from its own earlier snapshot).
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

const encodeChunk = (records: readonly CommandRecord[]): string => {
  const bytes = Buffer.allocUnsafe(records.length * PAIR_BYTES);
  records.forEach((record, index) => {
    bytes.writeDoubleLE(archiveKey(record.commandId), index * PAIR_BYTES);
    bytes.writeDoubleLE(Date.parse(record.recordedAt), index * PAIR_BYTES + 8);
  });
  return JSON.stringify({ ids: [], recordedAt: [], keys: bytes.toString('base64') } satisfies ArchivedChunk);
};

/** A chunk's (key, recorded at) pairs, in their order. */
const chunkPairs = (text: string): Float64Array => {
  const chunk = JSON.parse(text) as ArchivedChunk | LegacyChunk;
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
  private constructor(private readonly sql: SqlClient) {}

  /**
   * Creates what is missing, and only that: DDL on a table in use would queue behind (and
   * deadlock with) another process's snapshot writes. One process migrates at a time.
   */
  static async open(sql: SqlClient): Promise<PostgresSnapshotStore> {
    await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${SNAPSHOT_MIGRATION_LOCK_KEY})`);
      const [found] = await tx.query<{ records: string | null; archive: string | null; archived: boolean }>(
        `SELECT to_regclass('${RECORDS_TABLE}')::text AS records, to_regclass('${ARCHIVE_TABLE}')::text AS archive,
                EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = '${SNAPSHOTS_TABLE}' AND column_name = 'archived_commands') AS archived`,
      );
      if (found?.archived !== true) await tx.execScript(SNAPSHOTS_SCHEMA);
      if (found?.records === null || found?.records === undefined) await tx.execScript(RECORDS_SCHEMA);
      if (found?.archive === null || found?.archive === undefined) await tx.execScript(ARCHIVE_SCHEMA);
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
    const chunks = await this.sql.query<{ commands: string }>(
      `SELECT commands FROM ${ARCHIVE_TABLE} WHERE stream_id = $1 ORDER BY newest_recorded_at`,
      [streamId],
    );
    // Chunks oldest first, so the index is about oldest first too (releaseArchived forgets from the front).
    const parts = chunks.map((chunk) => chunkPairs(chunk.commands));
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

  async write(snapshot: SnapshotToWrite, forgetBefore: number): Promise<void> {
    const { streamId } = snapshot;
    const records = [...snapshot.state.commands.values()];
    // The records go to their own rows: the state is serialized without them.
    const state = JSON.stringify(serializeAccountState({ ...snapshot.state, commands: new Map() }));
    await this.sql.transaction(async (tx) => {
      await archiveRecords(tx, streamId, records);
      if (Number.isFinite(forgetBefore)) {
        const before = new Date(forgetBefore).toISOString();
        await tx.query(`DELETE FROM ${RECORDS_TABLE} WHERE stream_id = $1 AND recorded_at < $2`, [streamId, before]);
        await tx.query(`DELETE FROM ${ARCHIVE_TABLE} WHERE stream_id = $1 AND newest_recorded_at < $2`, [streamId, before]);
      }
      await tx.query(
        `INSERT INTO ${SNAPSHOTS_TABLE} AS s (stream_id, version, revision, position, last_hash, state)
           VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (stream_id) DO UPDATE
           SET version = excluded.version, revision = excluded.revision, position = excluded.position,
               last_hash = excluded.last_hash, state = excluded.state, taken_at = now()
         WHERE s.version <> excluded.version OR s.revision < excluded.revision`,
        [streamId, ACCOUNT_SNAPSHOT_VERSION, snapshot.revision, snapshot.position, snapshot.lastHash, state],
      );
    });
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

/**
 * The records in one statement (a record only replaces an older one of a reused command
 * id), and their keys as one chunk of the list of archived commands.
 */
const archiveRecords = async (tx: SqlExecutor, streamId: string, records: readonly CommandRecord[]): Promise<void> => {
  if (records.length === 0) return;
  let newest = Number.NEGATIVE_INFINITY;
  for (const record of records) newest = Math.max(newest, Date.parse(record.recordedAt));
  await tx.query(
    `INSERT INTO ${ARCHIVE_TABLE} (stream_id, chunk_id, newest_recorded_at, commands) VALUES ($1, $2, $3, $4)`,
    [streamId, randomUUID(), new Date(newest).toISOString(), encodeChunk(records)],
  );
  await tx.query(
    // The records as one JSON array (a json element's text is kept as sent): a text[] of JSON
    // texts made pg escape every quote of every record, the most garbage a spend made.
    `INSERT INTO ${RECORDS_TABLE} AS r (stream_id, command_id, recorded_at, position, record)
       SELECT $1, t.command_id, t.recorded_at, t.position, e.record::text
         FROM unnest($2::text[], $3::timestamptz[], $4::bigint[]) WITH ORDINALITY AS t(command_id, recorded_at, position, ord)
         JOIN json_array_elements($5::json) WITH ORDINALITY AS e(record, ord) ON e.ord = t.ord
     ON CONFLICT (stream_id, command_id) DO UPDATE
       SET recorded_at = excluded.recorded_at, position = excluded.position, record = excluded.record
     WHERE r.position < excluded.position`,
    [
      streamId,
      records.map((record) => record.commandId),
      records.map((record) => record.recordedAt),
      records.map((record) => record.position),
      JSON.stringify(records),
    ],
  );
};
