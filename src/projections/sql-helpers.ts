import type { SqlExecutor } from '../infrastructure/postgres/sql-client';

/** A read-model table: its CREATE TABLE (with the primary key) and its other indexes. */
export interface TableDefinition {
  readonly name: string;
  readonly create: string;
  /** CREATE INDEX statements, index names left to Postgres so a renamed table never collides. */
  readonly secondaryIndexes: readonly string[];
}

export interface CreateTablesOptions {
  /**
   * Leave the secondary indexes out of a new table, for a rebuild that fills it first and
   * then builds each index in one sort (createSecondaryIndexes) instead of an insert per row.
   */
  readonly deferSecondaryIndexes?: boolean;
}

/** Creates a table and, unless deferred, its secondary indexes, once. */
export const createTableOnce = async (tx: SqlExecutor, table: TableDefinition, options: CreateTablesOptions = {}): Promise<void> => {
  const [found] = await tx.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table.name]);
  if (found?.exists) return;
  await tx.query(table.create);
  if (options.deferSecondaryIndexes !== true) await createIndexes(tx, table);
};

/** The secondary indexes createTableOnce deferred. */
export const createIndexes = async (tx: SqlExecutor, table: TableDefinition): Promise<void> => {
  for (const statement of table.secondaryIndexes) await tx.query(statement);
};

/** Table names come from code, never from input; this guards the one place they are spliced into SQL. */
export const identifier = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return name;
};
