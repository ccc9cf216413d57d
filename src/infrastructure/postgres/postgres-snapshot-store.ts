import type { CommandRecord } from '../../domain/account.state';
import {
  ACCOUNT_SNAPSHOT_VERSION,
  deserializeAccountState,
  serializeAccountState,
  type AccountSnapshot,
  type SerializedAccountState,
  type SnapshotStore,
} from '../../application/accounts/account-snapshot';
import type { SqlClient, SqlExecutor } from './sql-client';

const SNAPSHOTS_TABLE = 'account_snapshots';
const RECORDS_TABLE = 'account_command_records';

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
  ALTER TABLE ${SNAPSHOTS_TABLE} ADD COLUMN IF NOT EXISTS archived_commands text NOT NULL DEFAULT '{"ids":[],"recordedAt":[]}';
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
  readonly archived_commands: string;
}

/** The ids of archived commands as the snapshot row keeps them: two parallel arrays, cheap to parse. */
interface ArchivedColumn {
  readonly ids: readonly string[];
  readonly recordedAt: readonly number[];
}

/**
 * Account snapshots in Postgres (beside the read models, whichever store keeps the
 * events): one row per stream, replaced only by a newer revision. The state is kept as
 * text, parsed in one JSON.parse, which is faster than jsonb for a large state. The
 * records of the idempotency window are kept one row per command, read back only for
 * the commands that repeat; the snapshot row keeps just their ids.
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
      const [found] = await tx.query<{ records: string | null; archived: boolean }>(
        `SELECT to_regclass('${RECORDS_TABLE}')::text AS records,
                EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = '${SNAPSHOTS_TABLE}' AND column_name = 'archived_commands') AS archived`,
      );
      if (found?.archived !== true) await tx.execScript(SNAPSHOTS_SCHEMA);
      if (found?.records === null || found?.records === undefined) await tx.execScript(RECORDS_SCHEMA);
    });
    return new PostgresSnapshotStore(sql);
  }

  async read(streamId: string): Promise<AccountSnapshot | undefined> {
    const [row] = await this.sql.query<SnapshotRow>(
      `SELECT revision::text AS revision, position::text AS position, last_hash, state, archived_commands
         FROM ${SNAPSHOTS_TABLE} WHERE stream_id = $1 AND version = $2`,
      [streamId, ACCOUNT_SNAPSHOT_VERSION],
    );
    if (row === undefined) return undefined;
    const archived = JSON.parse(row.archived_commands) as ArchivedColumn;
    const archivedCommands = new Map<string, number>();
    archived.ids.forEach((commandId, index) => archivedCommands.set(commandId, archived.recordedAt[index] ?? 0));
    return {
      streamId,
      revision: Number(row.revision),
      position: Number(row.position),
      lastHash: row.last_hash,
      state: deserializeAccountState(JSON.parse(row.state) as SerializedAccountState),
      archivedCommands,
    };
  }

  async write(snapshot: AccountSnapshot, forgetBefore: number): Promise<void> {
    const records = [...snapshot.state.commands.values()];
    const archived = new Map(snapshot.archivedCommands);
    for (const record of records) archived.set(record.commandId, Date.parse(record.recordedAt));
    for (const [commandId, recordedAt] of archived) if (recordedAt < forgetBefore) archived.delete(commandId);
    const column: ArchivedColumn = { ids: [...archived.keys()], recordedAt: [...archived.values()] };
    // The records go to their own rows: the state is serialized without them.
    const state = JSON.stringify(serializeAccountState({ ...snapshot.state, commands: new Map() }));
    await this.sql.transaction(async (tx) => {
      await archiveRecords(tx, snapshot.streamId, records);
      await tx.query(`DELETE FROM ${RECORDS_TABLE} WHERE stream_id = $1 AND recorded_at < $2`, [snapshot.streamId, new Date(forgetBefore).toISOString()]);
      await tx.query(
        `INSERT INTO ${SNAPSHOTS_TABLE} AS s (stream_id, version, revision, position, last_hash, state, archived_commands)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (stream_id) DO UPDATE
           SET version = excluded.version, revision = excluded.revision, position = excluded.position,
               last_hash = excluded.last_hash, state = excluded.state, archived_commands = excluded.archived_commands,
               taken_at = now()
         WHERE s.version <> excluded.version OR s.revision < excluded.revision`,
        [snapshot.streamId, ACCOUNT_SNAPSHOT_VERSION, snapshot.revision, snapshot.position, snapshot.lastHash, state, JSON.stringify(column)],
      );
    });
  }

  async recallCommands(streamId: string, commandIds: readonly string[]): Promise<readonly CommandRecord[]> {
    if (commandIds.length === 0) return [];
    const rows = await this.sql.query<{ record: string }>(
      `SELECT record FROM ${RECORDS_TABLE} WHERE stream_id = $1 AND command_id = ANY($2::text[])`,
      [streamId, commandIds],
    );
    return rows.map((row) => JSON.parse(row.record) as CommandRecord);
  }
}

/** One statement for all records; a record only replaces an older one of a reused command id. */
const archiveRecords = async (tx: SqlExecutor, streamId: string, records: readonly CommandRecord[]): Promise<void> => {
  if (records.length === 0) return;
  await tx.query(
    `INSERT INTO ${RECORDS_TABLE} AS r (stream_id, command_id, recorded_at, position, record)
       SELECT $1, command_id, recorded_at, position, record
         FROM unnest($2::text[], $3::timestamptz[], $4::bigint[], $5::text[]) AS t(command_id, recorded_at, position, record)
     ON CONFLICT (stream_id, command_id) DO UPDATE
       SET recorded_at = excluded.recorded_at, position = excluded.position, record = excluded.record
     WHERE r.position < excluded.position`,
    [
      streamId,
      records.map((record) => record.commandId),
      records.map((record) => record.recordedAt),
      records.map((record) => record.position),
      records.map((record) => JSON.stringify(record)),
    ],
  );
};
