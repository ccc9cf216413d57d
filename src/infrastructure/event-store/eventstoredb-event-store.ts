import {
  BACKWARDS,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  FORWARDS,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult as EsdbAppendResult,
  type Position,
} from '@eventstore/db-client';
import {
  assertOneRequestPerStream,
  EventStoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendRequest,
  type AppendResult,
  type BatchAppendOutcome,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../application/event-store.port';
import { assert } from '../../domain/assert';
import {
  ALL_READ_NOT_STARTED,
  allReadStart,
  collectAllPage,
  isLedgerEvent,
  toAppendResult,
  toEsdbExpectedRevision,
  toEventData,
  toRecordedEvent,
  type AllReadQuery,
} from './eventstoredb-mapping';

export const DEFAULT_STREAM_PREFIXES: readonly string[] = ['credit-account-'];

/** Records per `$all` page: readAll filters client-side, so a page also carries others' events. */
const ALL_PAGE_MIN_RECORDS = 64;
const ALL_PAGE_MAX_RECORDS = 4096;

/**
 * The EventStore port on EventStoreDB. `$all` is read and subscribed to from the client
 * (catch-up subscriptions only), limited to the streams under `prefixes`. EventStoreDB
 * commits an append at one position, so an append's events share their `position`.
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly prefixes: readonly string[];

  constructor(
    private readonly client: EventStoreDBClient,
    prefixes: readonly string[] = DEFAULT_STREAM_PREFIXES,
  ) {
    assert(prefixes.length > 0, 'at least one stream prefix is needed');
    assert(
      prefixes.every((prefix) => prefix.length > 0 && !prefix.startsWith('$')),
      'stream prefixes must be non-empty and not system streams',
    );
    this.prefixes = [...prefixes];
  }

  static connect(connectionString: string, prefixes: readonly string[] = DEFAULT_STREAM_PREFIXES): EventStoreDbEventStore {
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(connectionString), prefixes);
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    assert(events.length > 0, 'append needs at least one event');
    // A stream outside the prefixes would be written but never read back from $all.
    assert(
      this.prefixes.some((prefix) => streamId.startsWith(prefix)),
      `stream ${streamId} is outside ${this.prefixes.join(', ')}`,
    );
    let result: EsdbAppendResult;
    try {
      result = await this.client.appendToStream(streamId, events.map(toEventData), {
        expectedRevision: toEsdbExpectedRevision(expected),
      });
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) throw new WrongExpectedRevisionError(streamId, expected);
      throw unavailableOr(error);
    }
    return toAppendResult(streamId, expected, result, events.length);
  }

  /** EventStoreDB has no multi-stream transaction: the requests are appended in parallel, each atomic. */
  appendBatch(requests: readonly AppendRequest[]): Promise<readonly BatchAppendOutcome[]> {
    assertOneRequestPerStream(requests);
    return Promise.all(
      requests.map((request) =>
        this.append(request.streamId, request.events, request.expected).then(
          (result): BatchAppendOutcome => ({ ok: true, ...result }),
          (error: unknown): BatchAppendOutcome => {
            if (error instanceof WrongExpectedRevisionError) return { ok: false, error };
            throw error;
          },
        ),
      ),
    );
  }

  async readStream(streamId: string, fromRevision: number, limit: number): Promise<readonly RecordedEvent[]> {
    assert(Number.isSafeInteger(fromRevision) && fromRevision >= 0, `invalid fromRevision ${fromRevision}`);
    assertLimit(limit);
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        fromRevision: BigInt(fromRevision),
        maxCount: limit,
        direction: FORWARDS,
      });
      for await (const { event } of read) {
        if (event !== undefined) events.push(toRecordedEvent(event));
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw unavailableOr(error);
    }
    return events;
  }

  async readAll(after: bigint | null, limit: number): Promise<readonly RecordedEvent[]> {
    assert(after === null || after >= 0n, `invalid position ${after}`);
    assertLimit(limit);
    const query: AllReadQuery = { after, limit, prefixes: this.prefixes };
    const pageRecords = Math.min(Math.max(limit + 1, ALL_PAGE_MIN_RECORDS), ALL_PAGE_MAX_RECORDS);
    let progress = ALL_READ_NOT_STARTED;
    for (;;) {
      const from = progress.cursor;
      const page = await this.readAllPage(from ?? allReadStart(after), pageRecords);
      progress = collectAllPage(progress, page, query);
      if (progress.complete || page.length < pageRecords) return progress.events;
      assert(progress.cursor !== from, 'a full page of $all did not move the read forward');
    }
  }

  async headPosition(): Promise<bigint | null> {
    // $all holds other streams too: walk back to the newest event of ours, a bounded way.
    try {
      for await (const { event } of this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: ALL_PAGE_MAX_RECORDS })) {
        if (event !== undefined && isLedgerEvent(event, this.prefixes)) return event.position.commit;
      }
    } catch (error) {
      throw unavailableOr(error);
    }
    return null;
  }

  async *subscribe({ after, signal }: SubscribeOptions): AsyncIterable<RecordedEvent> {
    if (signal.aborted) return;
    const subscription = this.client.subscribeToAll({
      fromPosition: allReadStart(after),
      filter: streamNameFilter({ prefixes: [...this.prefixes] }),
    });
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => (stopped ??= stopSubscription(subscription));
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const { event } of subscription) {
        if (signal.aborted) return;
        if (event === undefined || !isLedgerEvent(event, this.prefixes)) continue;
        // Resuming at `after` replays (part of) the append at `after`: already delivered.
        if (after !== null && event.position.commit <= after) continue;
        yield toRecordedEvent(event);
      }
    } catch (error) {
      // Stopping the subscription ends its stream early; that is the requested end, not a failure.
      if (!signal.aborted) throw error;
    } finally {
      signal.removeEventListener('abort', stop);
      await stop();
    }
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  private async readAllPage(from: Position | 'start', maxCount: number): Promise<AllStreamResolvedEvent[]> {
    const page: AllStreamResolvedEvent[] = [];
    try {
      for await (const resolved of this.client.readAll({ fromPosition: from, maxCount, direction: FORWARDS })) {
        page.push(resolved);
      }
    } catch (error) {
      throw unavailableOr(error);
    }
    return page;
  }
}

/** The client's "cannot reach the server" errors, as the port's retryable error. */
const unavailableOr = (error: unknown): unknown =>
  error instanceof UnavailableError ||
  error instanceof DeadlineExceededError ||
  error instanceof NotLeaderError ||
  error instanceof TimeoutError
    ? new EventStoreUnavailableError(error.message)
    : error;

const assertLimit = (limit: number): void => {
  assert(Number.isSafeInteger(limit) && limit > 0, `invalid limit ${limit}`);
};

/**
 * Cancels the gRPC call (unsubscribe) and destroys the stream, which also ends a pending
 * `for await`. Cleanup never throws: a subscription that failed to start has already
 * reported its error through the stream.
 */
const stopSubscription = async (subscription: AllStreamSubscription): Promise<void> => {
  await subscription.unsubscribe().catch(() => undefined);
  subscription.destroy();
};
