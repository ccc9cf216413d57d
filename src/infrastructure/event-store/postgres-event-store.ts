import { EventEmitter } from 'node:events';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
  SubscribeOptions,
} from '../../application/event-store.port';
import { WrongExpectedRevisionError } from '../../application/event-store.port';
import type { SqlClient, SqlExecutor } from '../postgres/sql-client';
import {
  EXPECT_ANY,
  EXPECT_NO_STREAM,
  MIGRATION_LOCK_KEY,
  eventStoreSchemaSql,
} from './postgres-event-store.schema';

interface EventRow {
  readonly position: string;
  readonly stream_id: string;
  readonly stream_revision: string;
  readonly event_id: string;
  readonly type: string;
  readonly data: object;
  readonly metadata: Record<string, unknown>;
  readonly transaction_id: string;
  readonly recorded_at: Date | string;
}

interface AppendRow {
  readonly ok: boolean;
  readonly next_revision: string | null;
  readonly last_position: string | null;
}

export interface PostgresEventStoreOptions {
  /** How often a caught-up subscription looks for events appended by other processes. */
  readonly pollIntervalMs?: number;
  /** Events fetched per read while a subscription catches up. */
  readonly subscriptionBatchSize?: number;
}

/** Text casts keep bigints exact in JS; ORDER BY must name the table's columns, not these aliases. */
const EVENT_COLUMNS = `position::text AS position, stream_id, stream_revision::text AS stream_revision,
  event_id, type, data, metadata, transaction_id::text AS transaction_id, recorded_at`;

/** Events of transactions below the horizon are all committed or gone: read only those. */
const BELOW_HORIZON = `transaction_id < $1::xid8`;

/** The read horizon, taken in a statement of its own before the read (see the schema). */
const readHorizon = async (session: SqlExecutor): Promise<string> => {
  const [row] = await session.query<{ horizon: string }>('SELECT ledger_read_horizon()::text AS horizon');
  if (row === undefined) throw new Error('no read horizon');
  return row.horizon;
};

export class PostgresEventStore implements EventStore {
  private readonly appended = new EventEmitter();
  private readonly pollIntervalMs: number;
  private readonly subscriptionBatchSize: number;

  private constructor(
    private readonly sql: SqlClient,
    options: PostgresEventStoreOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.subscriptionBatchSize = options.subscriptionBatchSize ?? 500;
    this.appended.setMaxListeners(0);
  }

  static async open(sql: SqlClient, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      await tx.execScript(eventStoreSchemaSql);
    });
    return new PostgresEventStore(sql, options);
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const rows = await this.sql.withSession((session) =>
      session.query<AppendRow>('SELECT * FROM ledger_append($1, $2, $3, $4, $5, $6)', [
        streamId,
        expectedRevisionCode(expected),
        events.map((e) => e.eventId),
        events.map((e) => e.type),
        events.map((e) => JSON.stringify(e.data)),
        events.map((e) => JSON.stringify(e.metadata)),
      ]),
    );
    const row = rows[0];
    if (!row?.ok || row.next_revision === null || row.last_position === null) {
      throw new WrongExpectedRevisionError(streamId, expected);
    }
    this.appended.emit('append');
    return { nextExpectedRevision: Number(row.next_revision), position: BigInt(row.last_position) };
  }

  async readStream(streamId: string, fromRevision: number, limit: number): Promise<readonly RecordedEvent[]> {
    const rows = await this.sql.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ledger_events
        WHERE stream_id = $1 AND stream_revision >= $2 ORDER BY ledger_events.stream_revision LIMIT $3`,
      [streamId, fromRevision, limit],
    );
    return rows.map(toRecordedEvent);
  }

  async readAll(after: bigint | null, limit: number): Promise<readonly RecordedEvent[]> {
    return this.sql.withSession(async (session) => {
      const horizon = await readHorizon(session);
      const rows = await session.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM ledger_events
          WHERE ${BELOW_HORIZON} AND position > $2
          ORDER BY ledger_events.position LIMIT $3`,
        [horizon, String(after ?? -1n), limit],
      );
      const last = rows.at(-1);
      if (rows.length < limit || last === undefined) return rows.map(toRecordedEvent);
      return [...rows, ...(await restOfAppend(session, last))].map(toRecordedEvent);
    });
  }

  async headPosition(): Promise<bigint | null> {
    const [row] = await this.sql.withSession(async (session) =>
      session.query<{ position: string | null }>(`SELECT max(position)::text AS position FROM ledger_events WHERE ${BELOW_HORIZON}`, [
        await readHorizon(session),
      ]),
    );
    return row?.position == null ? null : BigInt(row.position);
  }

  async *subscribe({ after, signal }: SubscribeOptions): AsyncIterable<RecordedEvent> {
    let checkpoint = after;
    while (!signal.aborted) {
      const batch = await this.readAll(checkpoint, this.subscriptionBatchSize);
      for (const event of batch) {
        if (signal.aborted) return;
        yield event;
        checkpoint = event.position;
      }
      if (batch.length === 0) await this.nextAppendOrPoll(signal);
    }
  }

  async close(): Promise<void> {
    this.appended.removeAllListeners();
  }

  /** Waits for an append in this process, the poll interval, or the abort, whichever comes first. */
  private nextAppendOrPoll(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.appended.removeListener('append', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.appended.once('append', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The remaining events of the append the last row belongs to, so a page never splits one. */
const restOfAppend = (session: SqlExecutor, last: EventRow): Promise<readonly EventRow[]> =>
  session.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM ledger_events
      WHERE transaction_id = $1::xid8 AND stream_id = $2 AND position > $3 ORDER BY ledger_events.position`,
    [last.transaction_id, last.stream_id, last.position],
  );

const expectedRevisionCode = (expected: ExpectedRevision): number => {
  if (expected === 'no_stream') return EXPECT_NO_STREAM;
  if (expected === 'any') return EXPECT_ANY;
  if (!Number.isSafeInteger(expected) || expected < 0) throw new Error(`invalid expected revision ${expected}`);
  return expected;
};

const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  eventId: row.event_id,
  type: row.type,
  data: row.data,
  metadata: row.metadata,
  streamId: row.stream_id,
  streamRevision: Number(row.stream_revision),
  position: BigInt(row.position),
  recordedAt: new Date(row.recorded_at),
});
