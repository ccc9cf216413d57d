import type { SqlExecutor } from '../infrastructure/postgres/sql-client';

/** Creates a table and its indexes once; index names are left to Postgres so a renamed table never collides. */
export const createTableOnce = async (tx: SqlExecutor, table: string, ddl: readonly string[]): Promise<void> => {
  const [found] = await tx.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
  if (found?.exists) return;
  for (const statement of ddl) await tx.query(statement);
};

/** Table names come from code, never from input; this guards the one place they are spliced into SQL. */
export const identifier = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return name;
};
