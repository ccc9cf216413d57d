import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { Pool, type PoolClient, type QueryConfig } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyText, type CopyValue } from './copy-text';

/** What PGlite and its transactions have in common; structural, so both typings of the package fit. */
interface PgliteQueryable {
  query<Row>(text: string, params?: unknown[], options?: { blob?: Blob }): Promise<{ rows: Row[] }>;
  exec(text: string): Promise<unknown>;
}

interface PgliteDatabase extends PgliteQueryable {
  transaction<T>(work: (tx: PgliteQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqlExecutor {
  query<Row extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<readonly Row[]>;
  /** Runs a script of several statements without parameters (schema migrations). */
  execScript(text: string): Promise<void>;
  /**
   * Loads rows into `table` with COPY: for the server several times cheaper than an INSERT of
   * the same rows from a JSON parameter. There is no ON CONFLICT: for rows the caller knows are
   * new (a rebuild's new tables, a projection's lines past those it remembers); a duplicate key
   * fails the whole statement.
   */
  copyRows(table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]): Promise<void>;
}

/** COPY's column list; names come from code, never from input. */
const copyColumns = (table: string, columns: readonly string[]): string => {
  for (const name of [table, ...columns]) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return `${table} (${columns.join(', ')})`;
};

/**
 * The one way the service talks to Postgres: a pg pool on a real server, or PGlite
 * embedded. PGlite is a single connection, so its client runs one operation at a
 * time and never interleaves two transactions.
 */
export interface SqlClient extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs `work` on one dedicated session (for session-level locks); the session is discarded if work throws. */
  withSession<T>(work: (session: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Takes a session-level advisory lock on a connection kept for it, or null when another
   * session holds it. The lock lasts until released or until the connection dies
   * (process killed, server restarted), when `lost` resolves.
   */
  tryLock(key: number): Promise<LockLease | null>;
  close(): Promise<void>;
}

export interface LockLease {
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

export class PgSqlClient implements SqlClient {
  readonly kind = 'postgres';

  constructor(private readonly pool: Pool) {}

  static connect(connectionString: string, maxConnections = 10): PgSqlClient {
    // Prepared statements (below) are planned for their actual parameters every time: a
    // generic plan cannot see how many accounts an `= ANY($1)` names and may scan a table.
    // Two hot paths whose generic plans were checked to probe the same indexes even when
    // planned on empty tables opt out: ledger_append_events (its own SET clause) and the
    // projection batches (lockCheckpointsForBatch, for their transaction only).
    const pool = new Pool({ connectionString, max: maxConnections, options: '-c plan_cache_mode=force_custom_plan' });
    // An idle connection the server closes (restart, failover) is dropped and replaced on
    // the next checkout; without a listener pg would crash the process.
    pool.on('error', () => undefined);
    return new PgSqlClient(pool);
  }

  async query<Row extends object>(text: string, params: readonly unknown[] = []): Promise<readonly Row[]> {
    const result = await this.pool.query(statement(text, params));
    return result.rows as Row[];
  }

  async execScript(text: string): Promise<void> {
    await this.pool.query(text);
  }

  copyRows(table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]): Promise<void> {
    return this.withSession((session) => session.copyRows(table, columns, rows));
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.withSession(async (session) => {
      await session.query('BEGIN');
      const result = await work(session);
      await session.query('COMMIT');
      return result;
    });
  }

  async withSession<T>(work: (session: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A connection that dies mid-work also rejects the query in flight; the event alone must not crash us.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      const result = await work(pgExecutor(client));
      client.removeListener('error', ignore);
      client.release();
      return result;
    } catch (error) {
      client.removeListener('error', ignore);
      // Destroying the connection rolls back any open transaction and drops session locks.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  async tryLock(key: number): Promise<LockLease | null> {
    const client = await this.pool.connect();
    // A checked-out client's 'error' event crashes the process unless someone listens: a
    // connection dying during this query (Postgres stopped) must only reject the query.
    const ignore = () => undefined;
    client.on('error', ignore);
    let acquired = false;
    try {
      const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
      acquired = result.rows[0]?.locked === true;
    } catch (error) {
      client.removeListener('error', ignore);
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    client.removeListener('error', ignore);
    if (!acquired) {
      client.release();
      return null;
    }
    // A checked-out client's errors are ours to handle: every one of them, or pg crashes the process.
    const lost = new Promise<void>((resolve) => {
      client.on('error', () => resolve());
      client.on('end', () => resolve());
    });
    let released = false;
    return {
      lost,
      release: async () => {
        if (released) return;
        released = true;
        // Ending the connection drops the lock with it, whatever state the session is in.
        client.release(true);
      },
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Statements with parameters run as named prepared statements, so each connection parses
 * and plans one of them once instead of on every call: the write path and the projections
 * repeat a handful of statements thousands of times a second. Names are bounded: past
 * MAX_PREPARED distinct texts (generated SQL), statements run unnamed as before.
 * Postgres re-plans a prepared statement when a table it reads is replaced (a rebuild).
 */
const MAX_PREPARED = 256;
const MAX_PREPARED_TEXT = 8000;
const preparedNames = new Map<string, string>();

const statement = (text: string, params: readonly unknown[]): QueryConfig => {
  const values = params as unknown[];
  if (values.length === 0 || text.length > MAX_PREPARED_TEXT) return { text, values };
  let name = preparedNames.get(text);
  if (name === undefined) {
    if (preparedNames.size >= MAX_PREPARED) return { text, values };
    name = `ledger_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    preparedNames.set(text, name);
  }
  return { name, text, values };
};

const pgExecutor = (client: PoolClient): SqlExecutor => ({
  async query<Row extends object>(text: string, params: readonly unknown[] = []) {
    const result = await client.query(statement(text, params));
    return result.rows as Row[];
  },
  async execScript(text: string) {
    await client.query(text);
  },
  async copyRows(table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]) {
    if (rows.length === 0) return;
    const copy = client.query(copyFrom(`COPY ${copyColumns(table, columns)} FROM STDIN`));
    // 'finish' comes once the server has taken every row and the connection is ready again.
    copy.end(copyText(rows));
    await finished(copy);
  },
});

export class PgliteSqlClient implements SqlClient {
  readonly kind = 'pglite';
  private tail: Promise<unknown> = Promise.resolve();
  private readonly closeHooks: Array<() => void> = [];

  constructor(private readonly db: PgliteDatabase) {}

  static async open(dataDir?: string): Promise<PgliteSqlClient> {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = new PGlite(dataDir);
    await db.waitReady;
    return new PgliteSqlClient(db);
  }

  query<Row extends object>(text: string, params: readonly unknown[] = []): Promise<readonly Row[]> {
    return this.exclusive(async () => (await this.db.query<Row>(text, params as unknown[])).rows);
  }

  execScript(text: string): Promise<void> {
    return this.exclusive(async () => {
      await this.db.exec(text);
    });
  }

  copyRows(table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]): Promise<void> {
    return this.exclusive(() => pgliteExecutor(this.db).copyRows(table, columns, rows));
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.db.transaction((tx) => work(pgliteExecutor(tx))));
  }

  withSession<T>(work: (session: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(pgliteExecutor(this.db)));
  }

  /** One process owns an embedded database, so its locks are always free. */
  async tryLock(): Promise<LockLease> {
    return { lost: new Promise<void>(() => undefined), release: async () => undefined };
  }

  /** Runs `hook` once the database is closed (to release what guarded it). */
  onClose(hook: () => void): this {
    this.closeHooks.push(hook);
    return this;
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.db.close());
    for (const hook of this.closeHooks.splice(0)) hook();
  }

  /** Queues `work` behind everything already submitted: one operation at a time. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

const pgliteExecutor = (db: PgliteQueryable): SqlExecutor => ({
  async query<Row extends object>(text: string, params: readonly unknown[] = []) {
    return (await db.query<Row>(text, params as unknown[])).rows;
  },
  async execScript(text: string) {
    await db.exec(text);
  },
  async copyRows(table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]) {
    if (rows.length === 0) return;
    // PGlite has no client-side COPY protocol: the rows go in as a blob its /dev/blob reads.
    await db.query(`COPY ${copyColumns(table, columns)} FROM '/dev/blob'`, [], { blob: new Blob([copyText(rows)]) });
  },
});
