import {
  ANY,
  NO_STREAM,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type AppendResult as EsdbAppendResult,
  type JSONEventData,
  type Position,
  type RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
} from '../../application/event-store.port';
import { assert } from '../../domain/assert';

/**
 * Pure translation between the EventStore port and @eventstore/db-client, kept apart
 * from the adapter so that it is tested without a server.
 */

/** EventStoreDB stores event ids as UUIDs and returns them lower-case; any other form would not round-trip. */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const toSafeInteger = (value: bigint, what: string): number => {
  assert(value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER), `${what} ${value} is not a safe non-negative integer`);
  return Number(value);
};

export const toEsdbExpectedRevision = (expected: ExpectedRevision): AppendExpectedRevision => {
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'any') return ANY;
  assert(Number.isSafeInteger(expected) && expected >= 0, `invalid expected revision ${expected}`);
  return BigInt(expected);
};

export const toEventData = (event: NewEvent): JSONEventData => {
  assert(CANONICAL_UUID.test(event.eventId), `event id ${event.eventId} is not a lower-case UUID`);
  return jsonEvent({
    id: event.eventId,
    type: event.type,
    data: { ...event.data },
    metadata: { ...event.metadata },
  });
};

/**
 * A conflict is thrown by the client by default; with `throwOnAppendFailure=false` in
 * the connection string it comes back as `success: false` instead, and means the same.
 */
export const toAppendResult = (streamId: string, expected: ExpectedRevision, result: EsdbAppendResult, eventCount: number): AppendResult => {
  if (!result.success) throw new WrongExpectedRevisionError(streamId, expected);
  assert(result.position !== undefined, `append to ${streamId} succeeded without a log position`);
  const position = result.position.commit;
  return {
    nextExpectedRevision: toSafeInteger(result.nextExpectedRevision, 'next expected revision'),
    position,
    // EventStoreDB commits an append at one position: its events share it.
    positions: Array.from({ length: eventCount }, () => position),
  };
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);

export const toRecordedEvent = (event: EsdbRecordedEvent): RecordedEvent => {
  assert(event.isJson, `event ${event.id} in ${event.streamId} is not JSON`);
  assert(isPlainObject(event.data), `event ${event.id} in ${event.streamId} has no JSON object as data`);
  // The client drops empty metadata to undefined; every event we write has an object.
  const metadata = event.metadata ?? {};
  assert(isPlainObject(metadata), `event ${event.id} in ${event.streamId} has no JSON object as metadata`);
  // Reads of a single stream carry the position only on servers newer than 22.6.
  assert(event.position !== undefined, `event ${event.id} in ${event.streamId} has no log position`);
  return {
    eventId: event.id,
    type: event.type,
    data: event.data,
    metadata,
    streamId: event.streamId,
    streamRevision: toSafeInteger(event.revision, 'stream revision'),
    position: event.position.commit,
    recordedAt: event.created,
  };
};

/** Ours: in a stream of ours, and not a system event (`$metadata`, `$streamDeleted`, links `$>`). */
export const isLedgerEvent = (event: Pick<EsdbRecordedEvent, 'streamId' | 'type'>, prefixes: readonly string[]): boolean =>
  !event.type.startsWith('$') && prefixes.some((prefix) => event.streamId.startsWith(prefix));

/** Log order: by commit position, then by prepare position within one commit. */
export const comparePositions = (a: Position, b: Position): number => {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
};

/**
 * Where a read of `$all` resumes after `after`. Events of one append share their commit
 * position and the first of them also has it as its prepare position, so this is the
 * start of the append at `after` (or of the next one); what is <= `after` is skipped.
 */
export const allReadStart = (after: bigint | null): Position | 'start' =>
  after === null ? 'start' : { commit: after, prepare: after };

/** A batch may end before `nextCommit` only if it does not belong to the append already in it. */
export const isGroupBoundary = (lastIncludedCommit: bigint | undefined, nextCommit: bigint): boolean =>
  lastIncludedCommit === undefined || nextCommit !== lastIncludedCommit;

export interface AllReadQuery {
  readonly after: bigint | null;
  readonly limit: number;
  readonly prefixes: readonly string[];
}

export interface AllReadProgress {
  readonly events: readonly RecordedEvent[];
  /** The last record looked at; the next page starts there, as a read includes its start. */
  readonly cursor: Position | null;
  /** The limit is reached and the append of the last event is complete. */
  readonly complete: boolean;
}

export const ALL_READ_NOT_STARTED: AllReadProgress = { events: [], cursor: null, complete: false };

/**
 * Folds one page of `$all` (unfiltered, forwards) into the batch: keeps our events after
 * `after`, and stops at the first append boundary once `limit` events are in.
 */
export const collectAllPage = (
  progress: AllReadProgress,
  page: readonly AllStreamResolvedEvent[],
  query: AllReadQuery,
): AllReadProgress => {
  const events = [...progress.events];
  let cursor = progress.cursor;
  for (const { event } of page) {
    assert(event !== undefined, 'a read of $all without link resolution always carries the event');
    if (cursor !== null && comparePositions(event.position, cursor) <= 0) continue;
    if (events.length >= query.limit && isGroupBoundary(events.at(-1)?.position, event.position.commit)) {
      return { events, cursor, complete: true };
    }
    cursor = event.position;
    if (query.after !== null && event.position.commit <= query.after) continue;
    if (isLedgerEvent(event, query.prefixes)) events.push(toRecordedEvent(event));
  }
  return { events, cursor, complete: false };
};
