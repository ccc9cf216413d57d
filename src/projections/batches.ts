import type { RecordedEvent } from '../application/event-store.port';

const NOTHING_READY = Symbol('nothing ready');

/** Resolves on the next turn of the event loop: what is already buffered arrives before it. */
const nextTurn = (): Promise<typeof NOTHING_READY> => new Promise((resolve) => setImmediate(() => resolve(NOTHING_READY)));

/**
 * Groups a stream of events into batches of what is ready now, at most `maxSize`, except
 * that events sharing a position (one EventStoreDB append) always stay in one batch,
 * so a checkpoint never falls inside an append.
 */
export async function* inBatches(source: AsyncIterable<RecordedEvent>, maxSize: number): AsyncGenerator<RecordedEvent[]> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<RecordedEvent>> | undefined;
  const pull = (): Promise<IteratorResult<RecordedEvent>> => (pending ??= iterator.next());
  try {
    for (;;) {
      const first = await pull();
      pending = undefined;
      if (first.done) return;
      const batch = [first.value];
      for (;;) {
        const next = await Promise.race([pull(), nextTurn()]);
        if (next === NOTHING_READY) break;
        if (next.done) {
          yield batch;
          return;
        }
        const last = batch[batch.length - 1];
        if (batch.length >= maxSize && last !== undefined && next.value.position !== last.position) break;
        pending = undefined;
        batch.push(next.value);
      }
      yield batch;
    }
  } finally {
    await iterator.return?.();
  }
}
