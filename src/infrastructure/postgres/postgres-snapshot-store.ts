import {
  ACCOUNT_SNAPSHOT_VERSION,
  deserializeAccountState,
  serializeAccountState,
  type AccountSnapshot,
  type SerializedAccountState,
  type SnapshotStore,
} from '../../application/accounts/account-snapshot';
import type { SqlClient } from './sql-client';

const SNAPSHOTS_TABLE = 'account_snapshots';

interface SnapshotRow {
  readonly revision: string;
  readonly position: string;
  readonly last_hash: string;
  readonly state: string;
}

/**
 * Account snapshots in Postgres (beside the read models, whichever store keeps the
 * events): one row per stream, replaced only by a newer revision. The state is kept as
 * text, parsed in one JSON.parse, which is faster than jsonb for a large state.
 */
export class PostgresSnapshotStore implements SnapshotStore {
  private constructor(private readonly sql: SqlClient) {}

  static async open(sql: SqlClient): Promise<PostgresSnapshotStore> {
    await sql.query(`CREATE TABLE IF NOT EXISTS ${SNAPSHOTS_TABLE} (
      stream_id text PRIMARY KEY,
      version integer NOT NULL,
      revision bigint NOT NULL,
      position bigint NOT NULL,
      last_hash text NOT NULL,
      state text NOT NULL,
      taken_at timestamptz NOT NULL DEFAULT now()
    )`);
    return new PostgresSnapshotStore(sql);
  }

  async read(streamId: string): Promise<AccountSnapshot | undefined> {
    const [row] = await this.sql.query<SnapshotRow>(
      `SELECT revision::text AS revision, position::text AS position, last_hash, state
         FROM ${SNAPSHOTS_TABLE} WHERE stream_id = $1 AND version = $2`,
      [streamId, ACCOUNT_SNAPSHOT_VERSION],
    );
    if (row === undefined) return undefined;
    return {
      streamId,
      revision: Number(row.revision),
      position: Number(row.position),
      lastHash: row.last_hash,
      state: deserializeAccountState(JSON.parse(row.state) as SerializedAccountState),
    };
  }

  async write(snapshot: AccountSnapshot): Promise<void> {
    const state = JSON.stringify(serializeAccountState(snapshot.state));
    await this.sql.query(
      `INSERT INTO ${SNAPSHOTS_TABLE} AS s (stream_id, version, revision, position, last_hash, state)
         VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (stream_id) DO UPDATE
         SET version = excluded.version, revision = excluded.revision, position = excluded.position,
             last_hash = excluded.last_hash, state = excluded.state, taken_at = now()
       WHERE s.version <> excluded.version OR s.revision < excluded.revision`,
      [snapshot.streamId, ACCOUNT_SNAPSHOT_VERSION, snapshot.revision, snapshot.position, snapshot.lastHash, state],
    );
  }
}
