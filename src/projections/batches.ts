import type { RecordedEvent } from '../application/event-store.port';

const NOTHING_READY = Symbol('nothing ready');

/** Resolves on the next turn of the event loop: what is already buffered arrives before it. */
const nextTurn = (): Promise<typeof NOTHING_READY> => new Promise((resolve) => setImmediate(() => resolve(NOTHING_READY)));

/**
 * Groups a stream of events into batches of what is ready now (after `lingerMs`), at most `maxSize`, except
 * that events sharing a position (one EventStoreDB append) always stay in one batch,
 * so a checkpoint never falls inside an append.
 */
export async function* inBatches(source: AsyncIterable<RecordedEvent>, maxSize: number, lingerMs = 0): AsyncGenerator<RecordedEvent[]> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<RecordedEvent>> | undefined;
  const pull = (): Promise<IteratorResult<RecordedEvent>> => (pending ??= iterator.next());
  try {
    for (;;) {
      const first = await pull();
      pending = undefined;
      if (first.done) return;
      // Under load, waiting a moment lets more of the log gather into this batch: one
      // transaction per few milliseconds instead of one per event loop turn.
      if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
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
