import { EventEmitter } from 'node:events';
import type {
  AppendRequest,
  AppendResult,
  BatchAppendOutcome,
  EventStore,
  ExpectedRevision,
  NewEvent,
  PagedSubscribeOptions,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
} from '../../application/event-store.port';
import { abortablePause } from '../abortable-pause';
import { assertOneRequestPerStream, WrongExpectedRevisionError } from '../../application/event-store.port';
import type { SqlClient, SqlExecutor } from '../postgres/sql-client';
import {
  EXPECT_ANY,
  EXPECT_NO_STREAM,
  MIGRATION_LOCK_KEY,
  eventStoreSchemaSql,
} from './postgres-event-store.schema';

/** An event as every read sends it: numbers as float8 parse straight to JS numbers, the position as text stays exact. */
interface EventRowBase {
  readonly position: string;
  readonly stream_id: string;
  readonly stream_revision: number;
  readonly event_id: string;
  readonly type: string;
  readonly data: object;
  /** Epoch milliseconds: a number parses far faster than a timestamptz, and a replay reads millions. */
  readonly recorded_at_ms: number;
}

interface EventRow extends EventRowBase {
  readonly metadata: Record<string, unknown>;
  readonly transaction_id: string;
}

/** For readers that need only the schema version of the metadata (ReadAllOptions). */
interface LeanEventRow extends EventRowBase {
  readonly schema_version: unknown;
}

interface AppendRow {
  readonly ok: boolean;
  readonly next_revision: string | null;
  readonly first_position: string | null;
  readonly last_position: string | null;
}

const toOutcome = (request: AppendRequest, row: AppendRow | undefined): BatchAppendOutcome => {
  if (!row?.ok || row.next_revision === null || row.first_position === null || row.last_position === null) {
    return { ok: false, error: new WrongExpectedRevisionError(request.streamId, request.expected) };
  }
  const first = BigInt(row.first_position);
  return {
    ok: true,
    nextExpectedRevision: Number(row.next_revision),
    position: BigInt(row.last_position),
    positions: request.events.map((_, index) => first + BigInt(index)),
  };
};

export interface PostgresEventStoreOptions {
  /** How often a caught-up subscription looks for events appended by other processes. */
  readonly pollIntervalMs?: number;
  /** Events fetched per read while a subscription catches up. */
  readonly subscriptionBatchSize?: number;
}

/**
 * Revisions and times as float8 (exact below 2^53) and the position as text (a bigint in
 * JS); ORDER BY must name the table's columns, not these aliases.
 */
const COMMON_COLUMNS = `position::text AS position, stream_id, stream_revision::float8 AS stream_revision, event_id, type, data,
  floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_at_ms`;

const EVENT_COLUMNS = `${COMMON_COLUMNS}, metadata, transaction_id::text AS transaction_id`;

/**
 * The same for readers that need only each event's schema version of its metadata:
 * without the hash chain's two hashes Postgres has about half the JSON to send and Node
 * none to parse but the version (a projection rebuild reads a million events).
 */
const LEAN_EVENT_COLUMNS = `${COMMON_COLUMNS}, metadata->'schemaVersion' AS schema_version`;

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
  private readonly tail = new TailCache(TAIL_CACHE_EVENTS);
  private readonly pendingReads = new Map<string, Promise<readonly RecordedEvent[]>>();
  /** Subscriptions reading now: the tail cache serves a second one, so with one it holds nothing. */
  private subscriptions = 0;
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
    const [outcome] = await this.appendBatch([{ streamId, events, expected }]);
    if (outcome === undefined) throw new Error('append returned no outcome');
    if (!outcome.ok) throw outcome.error;
    return outcome;
  }

  async appendBatch(requests: readonly AppendRequest[]): Promise<readonly BatchAppendOutcome[]> {
    if (requests.length === 0) return [];
    if (requests.some((request) => request.events.length === 0)) throw new Error('append needs at least one event');
    assertOneRequestPerStream(requests);
    const events = requests.flatMap((request) => request.events);
    const rows = await this.sql.withSession((session) =>
      session.query<AppendRow>('SELECT * FROM ledger_append_events($1, $2, $3, $4, $5, $6, $7)', [
        requests.map((request) => request.streamId),
        requests.map((request) => expectedRevisionCode(request.expected)),
        requests.map((request) => request.events.length),
        events.map((e) => e.eventId),
        events.map((e) => e.type),
        JSON.stringify(events.map((e) => e.data)),
        JSON.stringify(events.map((e) => e.metadata)),
      ]),
    );
    if (rows.length !== requests.length) throw new Error(`batch of ${requests.length} appends answered ${rows.length} rows`);
    const outcomes = requests.map((request, index) => toOutcome(request, rows[index]));
    if (outcomes.some((outcome) => outcome.ok)) this.appended.emit('append');
    return outcomes;
  }

  async readStream(streamId: string, fromRevision: number, limit: number): Promise<readonly RecordedEvent[]> {
    const rows = await this.sql.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ledger_events
        WHERE stream_id = $1 AND stream_revision >= $2 ORDER BY ledger_events.stream_revision LIMIT $3`,
      [streamId, fromRevision, limit],
    );
    return rows.map(toRecordedEvent);
  }

  async readAll(after: bigint | null, limit: number, options: ReadAllOptions = {}): Promise<readonly RecordedEvent[]> {
    if (options.metadata === 'schemaVersion') return (await this.readRows<LeanEventRow>(after, limit, LEAN_EVENT_COLUMNS)).map(toLeanRecordedEvent);
    return (await this.readRows<EventRow>(after, limit, EVENT_COLUMNS)).map(toRecordedEvent);
  }

  private readRows<Row extends EventRowBase>(after: bigint | null, limit: number, columns: string): Promise<readonly Row[]> {
    return this.sql.withSession(async (session) => {
      const horizon = await readHorizon(session);
      const rows = await session.query<Row>(
        `SELECT ${columns} FROM ledger_events
          WHERE ${BELOW_HORIZON} AND position > $2
          ORDER BY ledger_events.position LIMIT $3`,
        [horizon, String(after ?? -1n), limit],
      );
      const last = rows.at(-1);
      if (rows.length < limit || last === undefined) return rows;
      return [...rows, ...(await restOfAppend(session, last, columns))];
    });
  }

  /** Events the tail cache holds now (none while fewer than two subscriptions read). */
  get tailCacheEvents(): number {
    return this.tail.size;
  }

  /**
   * readAll for this process's subscriptions (the projections' runner and the live feed,
   * when they run in one thread, follow the same tail of the log): a page another
   * subscription has just read is served from the tail cache. Pages below the read
   * horizon never change, so a cached page is as good as a fresh one. A lone subscription
   * keeps nothing: no one would read it again, and each event held for seconds outlives
   * the young generation only to die in the old one. Audits and rebuilds call readAll and
   * always read the table.
   */
  private async readAllShared(after: bigint | null, limit: number): Promise<readonly RecordedEvent[]> {
    if (this.subscriptions < 2) this.tail.clear();
    const cached = this.tail.read(after, limit);
    if (cached !== undefined) return cached;
    // Subscriptions woken by the same append ask for the same page at once: one read serves them all.
    const key = `${String(after)}:${limit}`;
    let pending = this.pendingReads.get(key);
    if (pending === undefined) {
      pending = this.readRows<EventRow>(after, limit, EVENT_COLUMNS)
        .then((rows) => {
          // Decoded once for every reader of the page, and for the tail.
          const events = rows.map(toRecordedEvent);
          if (this.subscriptions > 1) this.tail.remember(after, events, rows.map((row) => `${row.transaction_id}/${row.stream_id}`));
          return events;
        })
        .finally(() => this.pendingReads.delete(key));
      this.pendingReads.set(key, pending);
    }
    return pending;
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
    for await (const page of this.subscribeInPages({ after, signal, maxSize: this.subscriptionBatchSize })) {
      for (const event of page) {
        if (signal.aborted) return;
        yield event;
      }
    }
  }

  /**
   * The generator runs only while the consumer waits for its next page: a page is read
   * when asked for (after the linger), never ahead while the consumer still works on
   * the one before. A full page means more is waiting: the next is read at once.
   */
  async *subscribeInPages({ after, signal, maxSize, lingerMs = 0 }: PagedSubscribeOptions): AsyncIterable<readonly RecordedEvent[]> {
    let checkpoint = after;
    this.subscriptions += 1;
    try {
      while (!signal.aborted) {
        const page = await this.readAllShared(checkpoint, maxSize);
        // Stopped while reading: the page goes to no one (a runner that stopped applies nothing more).
        if (signal.aborted) return;
        const last = page.at(-1);
        if (last === undefined) await this.nextAppendOrPoll(signal);
        else {
          yield page;
          checkpoint = last.position;
          if (page.length >= maxSize) continue;
        }
        if (lingerMs > 0) await abortablePause(lingerMs, signal);
      }
    } finally {
      this.subscriptions -= 1;
    }
  }

  async close(): Promise<void> {
    this.appended.removeAllListeners();
  }

  /** Calls `listener` after each append of this process that committed; returns the unsubscribe. */
  onAppended(listener: () => void): () => void {
    this.appended.on('append', listener);
    return () => this.appended.removeListener('append', listener);
  }

  /**
   * Another thread or process has appended: subscriptions read now rather than at their
   * next poll (the projections' worker thread hears of the service's appends this way).
   */
  notifyAppended(): void {
    this.appended.emit('append');
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

/**
 * Four pages of a projection runner (500 events each): enough for subscriptions of one
 * thread that keep up with the log together. One further behind reads the table, as it
 * would without the cache; a bigger tail only holds each event longer (at 10,000 events,
 * 4-7 s at 1,340 spends/s, long enough to be promoted to the old generation).
 */
export const TAIL_CACHE_EVENTS = 2_000;

/**
 * The newest stretch of the log this process has read: one contiguous run (from, to]
 * known to hold every event that will ever have a position in it (everything below the
 * read horizon is committed or gone, and positions follow transaction order). Each
 * event keeps its append's key (transaction and stream) so a page never splits one.
 */
class TailCache {
  private from: bigint | null = null;
  private to: bigint | null = null;
  private events: RecordedEvent[] = [];
  private appendKeys: string[] = [];

  constructor(private readonly capacity: number) {}

  read(after: bigint | null, limit: number): readonly RecordedEvent[] | undefined {
    if (this.to === null || this.events.length === 0) return undefined;
    const covers = this.from === null ? true : after !== null && after >= this.from;
    if (!covers || (after !== null && after >= this.to)) return undefined;
    let start = 0;
    for (let low = 0, high = this.events.length; low < high; ) {
      const middle = (low + high) >> 1;
      if (after !== null && (this.events[middle]?.position ?? 0n) <= after) low = start = middle + 1;
      else high = middle;
    }
    let end = Math.min(start + limit, this.events.length);
    while (end < this.events.length && this.appendKeys[end] === this.appendKeys[end - 1]) end += 1;
    return this.events.slice(start, end);
  }

  get size(): number {
    return this.events.length;
  }

  clear(): void {
    if (this.to === null) return;
    this.from = null;
    this.to = null;
    this.events = [];
    this.appendKeys = [];
  }

  /** A page read after `after`, and each of its events' append keys (transaction and stream). */
  remember(after: bigint | null, events: readonly RecordedEvent[], appendKeys: readonly string[]): void {
    const last = events.at(-1);
    if (last === undefined) return;
    if (this.to === null || after === null || after !== this.to) {
      this.from = after;
      this.events = [];
      this.appendKeys = [];
    }
    for (const event of events) this.events.push(event);
    for (const key of appendKeys) this.appendKeys.push(key);
    this.to = last.position;
    const excess = this.events.length - this.capacity;
    if (excess > 0) {
      this.from = this.events[excess - 1]?.position ?? this.from;
      this.events.splice(0, excess);
      this.appendKeys.splice(0, excess);
    }
  }
}

/** The remaining events of the append the last row belongs to, so a page never splits one. */
const restOfAppend = <Row extends EventRowBase>(session: SqlExecutor, last: Row, columns: string): Promise<readonly Row[]> =>
  session.query<Row>(
    `SELECT ${columns} FROM ledger_events
      WHERE transaction_id = (SELECT transaction_id FROM ledger_events WHERE position = $2)
        AND stream_id = $1 AND position > $2 ORDER BY ledger_events.position`,
    [last.stream_id, last.position],
  );

const expectedRevisionCode = (expected: ExpectedRevision): number => {
  if (expected === 'no_stream') return EXPECT_NO_STREAM;
  if (expected === 'any') return EXPECT_ANY;
  if (!Number.isSafeInteger(expected) || expected < 0) throw new Error(`invalid expected revision ${expected}`);
  return expected;
};

const withMetadata = (row: EventRowBase, metadata: Record<string, unknown>): RecordedEvent => ({
  eventId: row.event_id,
  type: row.type,
  data: row.data,
  metadata,
  streamId: row.stream_id,
  streamRevision: row.stream_revision,
  position: BigInt(row.position),
  recordedAt: new Date(row.recorded_at_ms),
});

const toRecordedEvent = (row: EventRow): RecordedEvent => withMetadata(row, row.metadata);

const toLeanRecordedEvent = (row: LeanEventRow): RecordedEvent => withMetadata(row, { schemaVersion: row.schema_version });
