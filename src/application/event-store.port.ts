/**
 * The event store port. Two adapters implement it (PostgreSQL/PGlite and EventStoreDB)
 * and both pass the one contract suite in test/contract.
 *
 * Positions are the global order of the log ($all). They are bigint because
 * EventStoreDB commit positions are unsigned 64-bit; a position is never negative.
 * Events of one `append` are atomic: they commit together and are always delivered
 * together by `readAll` and `subscribe` (EventStoreDB gives them one shared commit
 * position; PostgreSQL gives each its own consecutive position).
 */
export interface NewEvent {
  readonly eventId: string;
  readonly type: string;
  /** A JSON object. */
  readonly data: object;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface RecordedEvent extends NewEvent {
  readonly streamId: string;
  /** 0-based index of the event in its stream. */
  readonly streamRevision: number;
  readonly position: bigint;
  readonly recordedAt: Date;
}

/** `no_stream`: the stream must not exist; a number: the revision of the stream's last event. */
export type ExpectedRevision = 'no_stream' | 'any' | number;

export interface AppendResult {
  /** Revision of the last appended event: the expected revision for the next append. */
  readonly nextExpectedRevision: number;
  /** Global position of the last appended event. */
  readonly position: bigint;
  /** Global position of each appended event, in order (EventStoreDB: the append's one commit position). */
  readonly positions: readonly bigint[];
}

export interface AppendRequest {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
}

/** One request of a batch: appended, or refused because its stream moved (nothing of it appended). */
export type BatchAppendOutcome = ({ readonly ok: true } & AppendResult) | { readonly ok: false; readonly error: WrongExpectedRevisionError };

export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)} does not match`);
  }
}

/** The store cannot be reached right now; the caller may retry. Adapters translate their drivers' errors to it. */
export class EventStoreUnavailableError extends Error {
  override readonly name = 'EventStoreUnavailableError';
}

export interface ReadAllOptions {
  /**
   * 'schemaVersion': the reader needs no more of each event's metadata than its schema
   * version (projections and their rebuilds, not the audit, which checks the hash chain),
   * so an adapter may leave the rest out. Default 'all'.
   */
  readonly metadata?: 'all' | 'schemaVersion';
}

export interface SubscribeOptions {
  /** Deliver events strictly after this position; null means from the start of the log. */
  readonly after: bigint | null;
  readonly signal: AbortSignal;
}

export interface PagedSubscribeOptions extends SubscribeOptions {
  /** At most this many events a page, except that a page never splits the events of one append. */
  readonly maxSize: number;
  /**
   * Before each read that follows a wake-up or a page that was not full, wait this long
   * (ms), so what commits meanwhile joins the page.
   */
  readonly lingerMs?: number;
}

export interface EventStore {
  /** Appends atomically, or throws WrongExpectedRevisionError and appends nothing. */
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams in one round trip. Each request is atomic and checked
   * against its own expected revision; a refused request does not stop the others.
   * A stream appears at most once in a batch (else it throws and appends nothing).
   * PostgreSQL commits the whole batch in one transaction; EventStoreDB, which has no
   * multi-stream transaction, appends the requests in parallel.
   */
  appendBatch(requests: readonly AppendRequest[]): Promise<readonly BatchAppendOutcome[]>;
  /** Events of one stream with revision >= fromRevision, in order, at most `limit`. */
  readStream(streamId: string, fromRevision: number, limit: number): Promise<readonly RecordedEvent[]>;
  /**
   * Events of the whole log with position > `after` (null: from the start), in log order.
   * Returns at most `limit` events, except that it never splits the events of one append.
   * Never returns an event while an earlier one may still commit (gap-safe).
   */
  readAll(after: bigint | null, limit: number, options?: ReadAllOptions): Promise<readonly RecordedEvent[]>;
  /** Position of the last event of the log that readers may see now; null for an empty log. */
  headPosition(): Promise<bigint | null>;
  /** Catch-up then live delivery in log order, until the signal aborts. */
  subscribe(options: SubscribeOptions): AsyncIterable<RecordedEvent>;
  /**
   * The same in pages, for a store that reads the log in pages (PostgreSQL): each page is
   * read only once the consumer asks for it, so it holds everything committed up to then.
   * A consumer batching `subscribe` itself would get pages read while it was still busy
   * with the one before. A store that pushes events (EventStoreDB) leaves it out.
   */
  subscribeInPages?(options: PagedSubscribeOptions): AsyncIterable<readonly RecordedEvent[]>;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EventStore');

/** appendBatch's precondition, checked before anything is written: each stream at most once. */
export const assertOneRequestPerStream = (requests: readonly AppendRequest[]): void => {
  const streams = new Set<string>();
  for (const { streamId } of requests) {
    if (streams.has(streamId)) throw new Error(`stream ${streamId} appears more than once in one append batch`);
    streams.add(streamId);
  }
};
