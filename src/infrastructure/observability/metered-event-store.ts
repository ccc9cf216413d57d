import type { Histogram } from 'prom-client';
import {
  WrongExpectedRevisionError,
  type AppendRequest,
  type AppendResult,
  type BatchAppendOutcome,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type PagedSubscribeOptions,
  type ReadAllOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../application/event-store.port';

type AppendHistogram = Histogram<'operation' | 'outcome'>;

/** The event store with the latency of every append measured; everything else passes through. */
export class MeteredEventStore implements EventStore {
  /** The inner store's, when it has one: consumers tell the two kinds of store apart by it. */
  readonly subscribeInPages?: (options: PagedSubscribeOptions) => AsyncIterable<readonly RecordedEvent[]>;

  constructor(
    private readonly inner: EventStore,
    private readonly appendSeconds: AppendHistogram,
  ) {
    const paged = inner.subscribeInPages;
    if (paged !== undefined) this.subscribeInPages = (options) => paged.call(inner, options);
  }

  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.timed('append', () => this.inner.append(streamId, events, expected));
  }

  appendBatch(requests: readonly AppendRequest[]): Promise<readonly BatchAppendOutcome[]> {
    return this.timed('append_batch', () => this.inner.appendBatch(requests));
  }

  readStream(streamId: string, fromRevision: number, limit: number): Promise<readonly RecordedEvent[]> {
    return this.inner.readStream(streamId, fromRevision, limit);
  }

  readAll(after: bigint | null, limit: number, options?: ReadAllOptions): Promise<readonly RecordedEvent[]> {
    return this.inner.readAll(after, limit, options);
  }

  headPosition(): Promise<bigint | null> {
    return this.inner.headPosition();
  }

  subscribe(options: SubscribeOptions): AsyncIterable<RecordedEvent> {
    return this.inner.subscribe(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed<Result>(operation: string, append: () => Promise<Result>): Promise<Result> {
    const end = this.appendSeconds.startTimer({ operation });
    try {
      const result = await append();
      end({ outcome: 'ok' });
      return result;
    } catch (error) {
      end({ outcome: error instanceof WrongExpectedRevisionError ? 'conflict' : 'error' });
      throw error;
    }
  }
}
