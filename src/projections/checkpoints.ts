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
 * Locks a group's checkpoint rows for a batch (in name order, as every runner does, so
 * two never deadlock) and lets the batch commit without waiting for its WAL flush: a
 * read model is rebuilt from the log, and its checkpoint commits with its rows, so a
 * crash loses at most the last batches, which are applied again. Events themselves are
 * always committed durably. The batch's statements keep their generic plans (planned once
 * per connection, not per batch as the pool's force_custom_plan would): every one is a
 * primary-key probe, an upsert or an insert, and their generic plans use the indexes even
 * when first planned on empty tables.
 */
export const lockCheckpointsForBatch = async (tx: SqlExecutor, names: readonly string[]): Promise<Map<string, bigint | null>> => {
  const rows = await tx.query<{ name: string; position: string | null }>(
    `SELECT name, position::text AS position, set_config('synchronous_commit', 'off', true) AS durability,
            set_config('plan_cache_mode', 'force_generic_plan', true) AS plans
       FROM ${CHECKPOINTS_TABLE} WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`,
    [names],
  );
  return new Map(rows.map((row) => [row.name, row.position == null ? null : BigInt(row.position)]));
};

/** Moves the group's checkpoints up to `position`; one already past it (a rebuild swapped it in) stays. */
export const advanceCheckpoints = (tx: SqlExecutor, names: readonly string[], position: bigint): Promise<readonly object[]> =>
  tx.query(
    `UPDATE ${CHECKPOINTS_TABLE} SET position = $2, updated_at = now()
      WHERE name = ANY($1::text[]) AND (position IS NULL OR position < $2::bigint)`,
    [names, position.toString()],
  );

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
