import type { SqlExecutor } from '../infrastructure/postgres/sql-client';

/**
 * Where each projection has read the log up to. A checkpoint row moves in the same
 * transaction as the read-model writes of the batch it ends.
 */
export const CHECKPOINTS_TABLE = 'projection_checkpoints';

export const createCheckpointsTable = (tx: SqlExecutor): Promise<readonly object[]> =>
  tx.query(`CREATE TABLE IF NOT EXISTS ${CHECKPOINTS_TABLE} (
    name text PRIMARY KEY,
    position bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
  )`);

export interface Checkpoint {
  readonly name: string;
  /** Position of the last event applied; null before the first. */
  readonly position: bigint | null;
  readonly updatedAt: Date;
}

export const readCheckpoint = async (sql: SqlExecutor, name: string, lock = false): Promise<bigint | null> => {
  const [row] = await sql.query<{ position: string | null }>(
    `SELECT position::text AS position FROM ${CHECKPOINTS_TABLE} WHERE name = $1${lock ? ' FOR UPDATE' : ''}`,
    [name],
  );
  return row?.position == null ? null : BigInt(row.position);
};

/**
 * Locks the checkpoint row for a batch and lets the batch commit without waiting for
 * its WAL flush: a read model is rebuilt from the log, and its checkpoint commits with
 * its rows, so a crash loses at most the last batches, which are applied again. Events
 * themselves are always committed durably.
 */
export const lockCheckpointForBatch = async (tx: SqlExecutor, name: string): Promise<bigint | null> => {
  const [row] = await tx.query<{ position: string | null }>(
    `SELECT position::text AS position, set_config('synchronous_commit', 'off', true) AS durability
       FROM ${CHECKPOINTS_TABLE} WHERE name = $1 FOR UPDATE`,
    [name],
  );
  return row?.position == null ? null : BigInt(row.position);
};

/**
 * Moves a checkpoint over a batch its projection has nothing to write for, in one
 * statement (no WAL flush waited for, as for every batch): only if it still stands at
 * `expected`, so a rebuild's swap that moved it meanwhile wins.
 */
export const advanceCheckpoint = async (sql: SqlExecutor, name: string, expected: bigint | null, position: bigint): Promise<boolean> => {
  const rows = await sql.query(
    `WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS durability)
     UPDATE ${CHECKPOINTS_TABLE} SET position = $3, updated_at = now() FROM relaxed
      WHERE name = $1 AND position IS NOT DISTINCT FROM $2::bigint RETURNING name`,
    [name, expected === null ? null : expected.toString(), position.toString()],
  );
  return rows.length === 1;
};

export const readCheckpoints = async (sql: SqlExecutor, names: readonly string[]): Promise<readonly Checkpoint[]> => {
  const rows = await sql.query<{ name: string; position: string | null; updated_at: Date | string }>(
    `SELECT name, position::text AS position, updated_at FROM ${CHECKPOINTS_TABLE} WHERE name = ANY($1::text[])`,
    [names],
  );
  return names.map((name) => {
    const row = rows.find((candidate) => candidate.name === name);
    return {
      name,
      position: row?.position == null ? null : BigInt(row.position),
      updatedAt: new Date(row?.updated_at ?? 0),
    };
  });
};

export const ensureCheckpoint = (sql: SqlExecutor, name: string): Promise<readonly object[]> =>
  sql.query(`INSERT INTO ${CHECKPOINTS_TABLE} (name, position) VALUES ($1, NULL) ON CONFLICT (name) DO NOTHING`, [name]);

export const writeCheckpoint = (sql: SqlExecutor, name: string, position: bigint | null): Promise<readonly object[]> =>
  sql.query(`UPDATE ${CHECKPOINTS_TABLE} SET position = $2, updated_at = now() WHERE name = $1`, [
    name,
    position === null ? null : position.toString(),
  ]);
