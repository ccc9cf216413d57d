/**
 * The one contract every EventStore adapter passes (src/application/event-store.port.ts).
 *
 * An EventStoreDB run shares one server with other suites, so every test writes to
 * streams of its own and filters `readAll`/`subscribe` down to those streams before it
 * asserts. Nothing here sleeps for a fixed time: waits poll with a deadline, and a
 * subscription proves it delivered nothing twice by waiting for a sentinel appended last.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../../src/application/event-store.port';

export interface EventStoreUnderTest {
  readonly store: EventStore;
  dispose(): Promise<void>;
}

const WAIT_DEADLINE_MS = 10_000;
const ABORT_DEADLINE_MS = 3_000;
const WAIT_POLL_MS = 5;
const READ_ALL_MAX_PAGES = 10_000;
const CONCURRENT_APPENDS = 10;
const CONCURRENT_STREAMS = 6;
const APPENDS_PER_STREAM = 5;
const RECORDED_AT_TOLERANCE_MS = 5 * 60_000;

export const describeEventStoreContract = (
  name: string,
  create: () => Promise<EventStoreUnderTest>,
): void => {
  describe(`event store contract: ${name}`, () => {
    describe('append', () => describeAppend(useStore(create)));
    describe('appendBatch', () => describeAppendBatch(useStore(create)));
    describe('append with a wrong expected revision', () => describeWrongExpectedRevision(useStore(create)));
    describe('concurrent appends', () => describeConcurrentAppends(useStore(create)));
    describe('readStream', () => describeReadStream(useStore(create)));
    describe('readAll', () => describeReadAll(useStore(create)));
    describe('subscribe', () => describeSubscribe(useStore(create)));
  });
};

/** One store per describe block; tests inside it keep apart through their own stream ids. */
const useStore = (create: () => Promise<EventStoreUnderTest>): (() => EventStore) => {
  let underTest: EventStoreUnderTest | undefined;
  beforeAll(async () => {
    underTest = await create();
  });
  afterAll(async () => {
    await underTest?.dispose();
  });
  return () => {
    assert(underTest, 'the store is created in beforeAll');
    return underTest.store;
  };
};

// ---------------------------------------------------------------------------------------
// append

const describeAppend = (store: () => EventStore): void => {
  it("appends to a new stream with 'no_stream'", async () => {
    const streamId = newStreamId();
    const events = newEvents(3);

    const result = await store().append(streamId, events, 'no_stream');

    expect(result.nextExpectedRevision).toBe(2);
    const recorded = await store().readStream(streamId, 0, 100);
    expect(eventIds(recorded)).toEqual(eventIds(events));
    expect(recorded.map((event) => event.streamRevision)).toEqual([0, 1, 2]);
  });

  it('appends with the numeric revision of the last event as the expected revision', async () => {
    const streamId = newStreamId();
    const first = newEvents(2);
    const second = newEvents(3);
    const third = newEvents(1);

    const afterFirst = await store().append(streamId, first, 'no_stream');
    const afterSecond = await store().append(streamId, second, afterFirst.nextExpectedRevision);
    const afterThird = await store().append(streamId, third, afterSecond.nextExpectedRevision);

    expect([afterFirst, afterSecond, afterThird].map((result) => result.nextExpectedRevision)).toEqual([1, 4, 5]);
    const recorded = await store().readStream(streamId, 0, 100);
    expect(eventIds(recorded)).toEqual(eventIds([...first, ...second, ...third]));
    expect(recorded.map((event) => event.streamRevision)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("appends with 'any' to a new stream and to an existing one", async () => {
    const streamId = newStreamId();
    const first = newEvents(1);
    const second = newEvents(2);

    const afterFirst = await store().append(streamId, first, 'any');
    const afterSecond = await store().append(streamId, second, 'any');

    expect(afterFirst.nextExpectedRevision).toBe(0);
    expect(afterSecond.nextExpectedRevision).toBe(2);
    const recorded = await store().readStream(streamId, 0, 100);
    expect(eventIds(recorded)).toEqual(eventIds([...first, ...second]));
    expect(recorded.map((event) => event.streamRevision)).toEqual([0, 1, 2]);
  });

  it('returns the position of the last appended event, and positions increase across appends', async () => {
    const streamA = newStreamId();
    const streamB = newStreamId();

    const results: AppendResult[] = [];
    results.push(await store().append(streamA, newEvents(3), 'no_stream'));
    results.push(await store().append(streamB, newEvents(1), 'no_stream'));
    results.push(await store().append(streamA, newEvents(2), 2));

    const recordedA = await store().readStream(streamA, 0, 100);
    const recordedB = await store().readStream(streamB, 0, 100);
    const lastOfEachAppend = [recordedA[2], recordedB[0], recordedA[4]].map((event) => event?.position);
    expect(results.map((result) => result.position)).toEqual(lastOfEachAppend);
    for (const result of results) {
      expect(typeof result.position).toBe('bigint');
      expect(result.position).toBeGreaterThanOrEqual(0n);
    }
    const [first, second, third] = results.map((result) => result.position);
    expect(second).toBeGreaterThan(first ?? -1n);
    expect(third).toBeGreaterThan(second ?? -1n);
    expect(positionRegressions([...recordedA.slice(0, 3), ...recordedB, ...recordedA.slice(3)])).toEqual([]);
  });
};

// ---------------------------------------------------------------------------------------
// appendBatch

const describeAppendBatch = (store: () => EventStore): void => {
  it('appends to several streams at once, each at its own revision, answering each one in order', async () => {
    const [streamA, streamB, streamC] = [newStreamId(), newStreamId(), newStreamId()];
    await store().append(streamB, newEvents(2), 'no_stream');
    const eventsA = newEvents(3);
    const eventsB = newEvents(1);
    const eventsC = newEvents(2);

    const outcomes = await store().appendBatch([
      { streamId: streamA, events: eventsA, expected: 'no_stream' },
      { streamId: streamB, events: eventsB, expected: 1 },
      { streamId: streamC, events: eventsC, expected: 'any' },
    ]);

    expect(outcomes.map((outcome) => outcome.ok && outcome.nextExpectedRevision)).toEqual([2, 2, 1]);
    const recorded = await Promise.all([streamA, streamB, streamC].map((streamId) => store().readStream(streamId, 0, 100)));
    expect(recorded.map(eventIds)).toEqual([eventIds(eventsA), [...eventIds(recorded[1]?.slice(0, 2) ?? []), ...eventIds(eventsB)], eventIds(eventsC)]);
    // Each outcome names the position of every event it appended, as the store records them.
    const appendedPositions = [recorded[0] ?? [], (recorded[1] ?? []).slice(2), recorded[2] ?? []].map((events) => events.map((e) => e.position));
    expect(outcomes.map((outcome) => (outcome.ok ? outcome.positions : []))).toEqual(appendedPositions);
    expect(outcomes.map((outcome) => (outcome.ok ? outcome.position : null))).toEqual(appendedPositions.map((positions) => positions.at(-1)));
  });

  it('refuses only the request whose stream moved, appends nothing of it, and appends the others', async () => {
    const [moved, fresh] = [newStreamId(), newStreamId()];
    await store().append(moved, newEvents(2), 'no_stream');
    const refused = newEvents(2);
    const kept = newEvents(1);

    const outcomes = await store().appendBatch([
      { streamId: moved, events: refused, expected: 0 },
      { streamId: fresh, events: kept, expected: 'no_stream' },
    ]);

    const [first, second] = outcomes;
    expect(first?.ok).toBe(false);
    expect(first?.ok === false && first.error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(first?.ok === false && first.error.streamId).toBe(moved);
    expect(second?.ok).toBe(true);
    expect(eventIds(await store().readStream(moved, 0, 100))).not.toEqual(expect.arrayContaining(eventIds(refused).slice(0, 1)));
    expect(await store().readStream(moved, 0, 100)).toHaveLength(2);
    expect(eventIds(await store().readStream(fresh, 0, 100))).toEqual(eventIds(kept));
  });

  it('appends a batch of many streams, some of them moved, answering each request with its own positions', async () => {
    const streams = Array.from({ length: 30 }, () => newStreamId());
    await Promise.all(streams.map((streamId) => store().append(streamId, newEvents(2), 'no_stream')));
    // Every third request expects a revision its stream is not at.
    const requests = streams.map((streamId, index) => ({
      streamId,
      events: newEvents(1 + (index % 3)),
      expected: index % 3 === 2 ? 0 : 1,
    }));

    const outcomes = await store().appendBatch(requests);

    expect(outcomes.map((outcome) => outcome.ok)).toEqual(requests.map((_, index) => index % 3 !== 2));
    const recorded = await Promise.all(streams.map((streamId) => store().readStream(streamId, 0, 100)));
    recorded.forEach((events, index) => {
      const request = requests[index];
      const appended = index % 3 === 2 ? [] : eventIds(request?.events ?? []);
      expect(eventIds(events.slice(2))).toEqual(appended);
    });
    outcomes.forEach((outcome, index) => {
      if (!outcome.ok) return;
      expect(outcome.positions).toEqual((recorded[index] ?? []).slice(2).map((event) => event.position));
      expect(outcome.nextExpectedRevision).toBe(1 + (requests[index]?.events.length ?? 0));
    });
  });

  it('refuses a batch that names one stream twice, and appends nothing of it', async () => {
    const [twice, other] = [newStreamId(), newStreamId()];

    await expect(
      store().appendBatch([
        { streamId: twice, events: newEvents(1), expected: 'no_stream' },
        { streamId: other, events: newEvents(1), expected: 'no_stream' },
        { streamId: twice, events: newEvents(1), expected: 0 },
      ]),
    ).rejects.toThrow(/more than once/);
    expect(await store().readStream(twice, 0, 100)).toEqual([]);
    expect(await store().readStream(other, 0, 100)).toEqual([]);
  });

  it('answers an empty batch with no outcomes', async () => {
    expect(await store().appendBatch([])).toEqual([]);
  });
};

// ---------------------------------------------------------------------------------------
// wrong expected revision

const describeWrongExpectedRevision = (store: () => EventStore): void => {
  it('rejects a stale or a future revision, appends nothing, and still accepts the right one', async () => {
    const streamId = newStreamId();
    const existing = newEvents(3);
    const { position: before } = await store().append(streamId, existing, 'no_stream');

    await expectRejectedAppend(store(), streamId, 1, before, eventIds(existing));
    await expectRejectedAppend(store(), streamId, 3, before, eventIds(existing));

    const accepted = await store().append(streamId, newEvents(2), 2);
    expect(accepted.nextExpectedRevision).toBe(4);
  });

  it("rejects 'no_stream' on an existing stream and appends nothing", async () => {
    const streamId = newStreamId();
    const existing = newEvents(1);
    const { position: before } = await store().append(streamId, existing, 'no_stream');

    await expectRejectedAppend(store(), streamId, 'no_stream', before, eventIds(existing));
  });

  it('rejects a numeric revision on a missing stream, appends nothing, and the stream can still be created', async () => {
    const { position: before } = await appendMarker(store());
    const streamId = newStreamId();

    await expectRejectedAppend(store(), streamId, 0, before, []);

    const created = await store().append(streamId, newEvents(1), 'no_stream');
    expect(created.nextExpectedRevision).toBe(0);
  });
};

/** Appends two events with `expected`, which must be wrong, and proves nothing was written. */
const expectRejectedAppend = async (
  store: EventStore,
  streamId: string,
  expected: ExpectedRevision,
  logPositionBefore: bigint,
  streamBefore: readonly string[],
): Promise<void> => {
  const rejected = newEvents(2);

  const error = await store.append(streamId, rejected, expected).then(
    () => undefined,
    (reason: unknown) => reason,
  );

  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  expect(error).toMatchObject({ streamId, expected });
  expect(eventIds(await store.readStream(streamId, 0, 100))).toEqual(streamBefore);
  const logAfter = (await readAllPages(store, logPositionBefore, 100)).flat();
  expect(eventIds(logAfter).filter((eventId) => eventIds(rejected).includes(eventId))).toEqual([]);
};

// ---------------------------------------------------------------------------------------
// concurrent appends

const describeConcurrentAppends = (store: () => EventStore): void => {
  it(`lets exactly one of ${CONCURRENT_APPENDS} appends with the same numeric revision succeed`, async () => {
    const streamId = newStreamId();
    const existing = newEvents(1);
    await store().append(streamId, existing, 'no_stream');
    const batches = Array.from({ length: CONCURRENT_APPENDS }, () => newEvents(2));

    const outcomes = await Promise.allSettled(batches.map((batch) => store().append(streamId, batch, 0)));

    const winner = expectOneWinner(outcomes, streamId, 0);
    expect(winner.result.nextExpectedRevision).toBe(2);
    const recorded = await store().readStream(streamId, 0, 100);
    expect(eventIds(recorded)).toEqual(eventIds([...existing, ...(batches[winner.index] ?? [])]));
  });

  it(`lets exactly one of ${CONCURRENT_APPENDS} appends with 'no_stream' to a new stream succeed`, async () => {
    const streamId = newStreamId();
    const batches = Array.from({ length: CONCURRENT_APPENDS }, () => newEvents(2));

    const outcomes = await Promise.allSettled(batches.map((batch) => store().append(streamId, batch, 'no_stream')));

    const winner = expectOneWinner(outcomes, streamId, 'no_stream');
    expect(winner.result.nextExpectedRevision).toBe(1);
    const recorded = await store().readStream(streamId, 0, 100);
    expect(eventIds(recorded)).toEqual(eventIds(batches[winner.index] ?? []));
  });

  it(`lets all of ${CONCURRENT_APPENDS} concurrent appends with 'any' succeed, without gaps in revisions`, async () => {
    const streamId = newStreamId();
    const batches = Array.from({ length: CONCURRENT_APPENDS }, () => newEvents(1));

    const outcomes = await Promise.allSettled(batches.map((batch) => store().append(streamId, batch, 'any')));

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    const revisions = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.nextExpectedRevision : -1));
    expect([...revisions].sort((a, b) => a - b)).toEqual(range(CONCURRENT_APPENDS));
    const recorded = await store().readStream(streamId, 0, 100);
    expect(recorded.map((event) => event.streamRevision)).toEqual(range(CONCURRENT_APPENDS));
    expect([...eventIds(recorded)].sort()).toEqual(eventIds(batches.flat()).sort());
  });
};

const expectOneWinner = (
  outcomes: readonly PromiseSettledResult<AppendResult>[],
  streamId: string,
  expected: ExpectedRevision,
): { readonly index: number; readonly result: AppendResult } => {
  const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [{ index, result: outcome.value }] : []));
  const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  expect(winners).toHaveLength(1);
  expect(losers).toHaveLength(outcomes.length - 1);
  for (const loser of losers) {
    expect(loser).toBeInstanceOf(WrongExpectedRevisionError);
    expect(loser).toMatchObject({ streamId, expected });
  }
  const [winner] = winners;
  assert(winner);
  return winner;
};

// ---------------------------------------------------------------------------------------
// readStream

const describeReadStream = (store: () => EventStore): void => {
  const appendFive = async (): Promise<{ streamId: string; events: NewEvent[] }> => {
    const streamId = newStreamId();
    const events = newEvents(5);
    await store().append(streamId, events.slice(0, 3), 'no_stream');
    await store().append(streamId, events.slice(3), 2);
    return { streamId, events };
  };

  it('reads a stream in order with 0-based revisions and increasing positions', async () => {
    const { streamId, events } = await appendFive();

    const recorded = await store().readStream(streamId, 0, 100);

    expect(eventIds(recorded)).toEqual(eventIds(events));
    expect(recorded.map((event) => event.streamRevision)).toEqual([0, 1, 2, 3, 4]);
    expect(recorded.every((event) => event.streamId === streamId)).toBe(true);
    expect(positionRegressions(recorded)).toEqual([]);
    const [first, second] = [recorded[0], recorded[3]];
    expect(second?.position).toBeGreaterThan(first?.position ?? -1n);
  });

  it('reads a stream of more than ten events in numeric revision order', async () => {
    const streamId = newStreamId();
    const events = newEvents(12);
    await store().append(streamId, events.slice(0, 7), 'no_stream');
    await store().append(streamId, events.slice(7), 6);

    expect((await store().readStream(streamId, 0, 100)).map((event) => event.streamRevision)).toEqual(range(12));
    expect(eventIds(await store().readStream(streamId, 0, 100))).toEqual(eventIds(events));
    expect(eventIds(await store().readStream(streamId, 0, 10))).toEqual(eventIds(events.slice(0, 10)));
    expect(eventIds(await store().readStream(streamId, 8, 3))).toEqual(eventIds(events.slice(8, 11)));
  });

  it('reads from a revision', async () => {
    const { streamId, events } = await appendFive();

    expect(eventIds(await store().readStream(streamId, 2, 100))).toEqual(eventIds(events.slice(2)));
    expect(eventIds(await store().readStream(streamId, 4, 100))).toEqual(eventIds(events.slice(4)));
    expect(await store().readStream(streamId, 5, 100)).toEqual([]);
  });

  it('returns at most limit events', async () => {
    const { streamId, events } = await appendFive();

    expect(eventIds(await store().readStream(streamId, 0, 2))).toEqual(eventIds(events.slice(0, 2)));
    expect(eventIds(await store().readStream(streamId, 1, 3))).toEqual(eventIds(events.slice(1, 4)));
    expect(eventIds(await store().readStream(streamId, 3, 10))).toEqual(eventIds(events.slice(3)));
    expect(eventIds(await store().readStream(streamId, 0, 1))).toEqual(eventIds(events.slice(0, 1)));
  });

  it('round-trips eventId, type, data and metadata', async () => {
    const streamId = newStreamId();
    const event = richEvent();
    const startedAt = Date.now();

    await store().append(streamId, [event], 'no_stream');
    const [recorded] = await store().readStream(streamId, 0, 1);

    expect(recorded).toMatchObject({ streamId, streamRevision: 0 });
    expect({
      eventId: recorded?.eventId,
      type: recorded?.type,
      data: recorded?.data,
      metadata: recorded?.metadata,
    }).toEqual(event);
    expect(recorded?.recordedAt).toBeInstanceOf(Date);
    const recordedAtMs = recorded?.recordedAt.getTime() ?? Number.NaN;
    expect(Math.abs(recordedAtMs - startedAt)).toBeLessThan(RECORDED_AT_TOLERANCE_MS);
  });

  it('keeps streams apart', async () => {
    const streamA = newStreamId();
    const streamB = newStreamId();
    const [a1, a2, b1] = [newEvents(1), newEvents(2), newEvents(2)];
    await store().append(streamA, a1, 'no_stream');
    await store().append(streamB, b1, 'no_stream');
    await store().append(streamA, a2, 0);

    expect(eventIds(await store().readStream(streamA, 0, 100))).toEqual(eventIds([...a1, ...a2]));
    expect(eventIds(await store().readStream(streamB, 0, 100))).toEqual(eventIds(b1));
  });

  it('returns [] for a missing stream', async () => {
    expect(await store().readStream(newStreamId(), 0, 100)).toEqual([]);
  });
};

/** Nested JSON, unicode that must survive byte for byte, and integers beyond 2^53 as strings. */
const richEvent = (): NewEvent => ({
  eventId: randomUUID(),
  type: 'CreditsGranted',
  data: {
    schemaVersion: 1,
    accountId: 'acc-ünïcødé-口座-🚀',
    amountMillicredits: 9_007_199_254_740_991,
    hugeMillicredits: '9223372036854775807',
    negativeHuge: '-9007199254740993',
    note: 'Crédits — 中文 — עברית — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — e\u0301 — "quoted" \\ back\nslash\ttab',
    flags: { trial: true, expired: false, revokedAt: null },
    grants: [{ sku: 'gpu-hour', quantity: 3, tags: ['a', 'b'] }, { sku: 'tokens', quantity: 0, tags: [] }],
    deep: { a: { b: { c: { d: { e: [1, [2, [3, { f: 'g' }]]] } } } } },
    empty: {},
    zero: 0,
    negative: -42,
  },
  metadata: { correlationId: randomUUID(), causationId: randomUUID(), actor: { kind: 'user', id: 'usr-ß' } },
});

// ---------------------------------------------------------------------------------------
// readAll

const describeReadAll = (store: () => EventStore): void => {
  it('returns every event after `after` in log order, the same as readStream records them', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const [streamA, streamB] = [newStreamId(), newStreamId()];
    await log.append(store(), streamA, newEvents(1), 'no_stream');
    const middle = await log.append(store(), streamB, newEvents(3), 'no_stream');
    await log.append(store(), streamA, newEvents(2), 0);
    await log.append(store(), streamB, newEvents(1), 2);

    const pages = await readAllPages(store(), marker, 100);

    const all = pages.flat();
    expect(all.filter((event) => event.position <= marker)).toEqual([]);
    expect(positionRegressions(all)).toEqual([]);
    const own = log.own(all);
    expect(eventIds(own)).toEqual(log.order);
    const byStream = [...(await store().readStream(streamA, 0, 100)), ...(await store().readStream(streamB, 0, 100))];
    expect([...own].sort(byPositionThenRevision)).toEqual([...byStream].sort(byPositionThenRevision));

    const afterMiddle = log.own((await readAllPages(store(), middle.position, 100)).flat());
    expect(eventIds(afterMiddle)).toEqual(log.order.slice(4));
  });

  it("reads the same events with metadata 'schemaVersion', their metadata keeping at least the schema version", async () => {
    const { position: marker } = await appendMarker(store());
    const streamId = newStreamId();
    const events = newEvents(3).map((event, index) => ({ ...event, metadata: { schemaVersion: index + 1, hash: randomUUID() } }));
    await store().append(streamId, events, 'no_stream');

    const full = (await store().readAll(marker, 100)).filter((event) => event.streamId === streamId);
    const lean = (await store().readAll(marker, 100, { metadata: 'schemaVersion' })).filter((event) => event.streamId === streamId);

    expect(full.map((event) => event.metadata)).toEqual(events.map((event) => event.metadata));
    expect(lean.map((event) => event.metadata['schemaVersion'])).toEqual([1, 2, 3]);
    const withoutMetadata = ({ metadata: _metadata, ...rest }: RecordedEvent) => rest;
    expect(lean.map(withoutMetadata)).toEqual(full.map(withoutMetadata));
  });

  it('reads from the start of the log when `after` is null', async () => {
    const log = new TrackedLog();
    const streamId = newStreamId();
    // More than ten events, so the log's positions cross at least one power of ten.
    await log.append(store(), streamId, newEvents(1), 'no_stream');
    await log.append(store(), streamId, newEvents(4), 0);
    await log.append(store(), streamId, newEvents(1), 4);
    await log.append(store(), streamId, newEvents(6), 5);

    const all = (await readAllPages(store(), null, 500)).flat();

    expect(positionRegressions(all)).toEqual([]);
    expect(eventIds(log.own(all))).toEqual(log.order);
    const firstPage = await store().readAll(null, 1);
    expect(firstPage.length).toBeGreaterThanOrEqual(1);
    expect(firstPage[0]).toEqual(all[0]);
  });

  it('returns at most `limit` events when no append must be kept whole', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const streamId = newStreamId();
    for (const revision of [-1, 0, 1, 2, 3, 4]) {
      await log.append(store(), streamId, newEvents(1), revision < 0 ? 'no_stream' : revision);
    }

    for (const limit of [1, 4]) {
      const page = await store().readAll(marker, limit);
      expectWithinLimit(page, limit, log);
      const own = log.own(page);
      expect(eventIds(own)).toEqual(log.order.slice(0, own.length));
      // Without foreign events in the page nothing justifies returning fewer than `limit`.
      if (own.length === page.length) expect(page).toHaveLength(limit);
    }
  });

  it('never splits the events of one append, returning more than `limit` only to keep one whole', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const [streamA, streamB] = [newStreamId(), newStreamId()];
    const first = await log.append(store(), streamA, newEvents(1), 'no_stream');
    const fiveEvents = newEvents(5);
    await log.append(store(), streamB, fiveEvents, 'no_stream');
    await log.append(store(), streamA, newEvents(1), 0);

    // A page starting at an append larger than the limit must still make progress.
    const page = await store().readAll(first.position, 2);
    expectWithinLimit(page, 2, log);
    expect(eventIds(log.own(page))).toEqual(eventIds(fiveEvents));

    const straddling = await store().readAll(marker, 3);
    expectWithinLimit(straddling, 3, log);
    expectNoSplit([straddling], log);
  });

  it('pages by the last position return each event exactly once, never splitting an append', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const [streamA, streamB] = [newStreamId(), newStreamId()];
    await log.append(store(), streamA, newEvents(1), 'no_stream');
    await log.append(store(), streamB, newEvents(3), 'no_stream');
    await log.append(store(), streamA, newEvents(1), 0);
    await log.append(store(), streamA, newEvents(4), 1);
    await log.append(store(), streamB, newEvents(2), 2);
    await log.append(store(), streamB, newEvents(1), 4);

    for (const metadata of ['all', 'schemaVersion'] as const) {
      for (const limit of [1, 2, 3, 5, 100]) {
        const pages = await readAllPages(store(), marker, limit, { metadata });

        for (const page of pages) expectWithinLimit(page, limit, log);
        expectNoSplit(pages, log);
        expect(eventIds(log.own(pages.flat()))).toEqual(log.order);
        expect(positionRegressions(pages.flat())).toEqual([]);
      }
    }
  });

  it('returns nothing of ours after the position of the last append', async () => {
    const log = new TrackedLog();
    const streamId = newStreamId();
    await log.append(store(), streamId, newEvents(2), 'no_stream');
    const last = await log.append(store(), streamId, newEvents(2), 1);

    expect(log.own(await store().readAll(last.position, 100))).toEqual([]);
  });

  it('never skips an event while concurrent appends commit out of order (gap-safe)', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    let writersDone = false;
    const writers = writeConcurrently(store(), log).finally(() => {
      writersDone = true;
    });

    const pages: RecordedEvent[][] = [];
    let cursor = marker;
    const deadline = Date.now() + WAIT_DEADLINE_MS;
    for (;;) {
      // Read the flag before the query: an empty page only ends the read if every append had committed before it.
      const allCommitted = writersDone;
      const page = await store().readAll(cursor, 5);
      if (page.length === 0 && allCommitted) break;
      if (Date.now() > deadline) throw new Error(`readAll still returning events after ${WAIT_DEADLINE_MS} ms`);
      if (page.length === 0) {
        await sleep(WAIT_POLL_MS);
        continue;
      }
      expect(page.filter((event) => event.position <= cursor)).toEqual([]);
      pages.push([...page]);
      cursor = lastOf(page).position;
    }
    await writers;

    for (const page of pages) expectWithinLimit(page, 5, log);
    expectNoSplit(pages, log);
    expectConcurrentLog(pages.flat(), log.appends);
  });
};

/** Each page returns at most `limit` events, plus only the rest of the append the limit cut into. */
const expectWithinLimit = (page: readonly RecordedEvent[], limit: number, log: TrackedLog): void => {
  expect(page.length).toBeGreaterThanOrEqual(1);
  const boundary = page[limit - 1];
  if (boundary === undefined) return;
  const beyondBoundary = page.slice(limit).filter((event) => !log.sameAppend(event, boundary));
  expect(beyondBoundary.map(describeEvent)).toEqual([]);
};

const expectNoSplit = (pages: readonly (readonly RecordedEvent[])[], log: TrackedLog): void => {
  const pagesOfAppend = new Map<number, Set<number>>();
  pages.forEach((page, pageIndex) => {
    for (const event of page) {
      const append = log.appendOf(event);
      if (append === undefined) continue;
      pagesOfAppend.set(append, (pagesOfAppend.get(append) ?? new Set()).add(pageIndex));
    }
  });
  const split = [...pagesOfAppend].filter(([, pageIndexes]) => pageIndexes.size > 1);
  expect(split.map(([append, pageIndexes]) => `append ${append} on pages ${[...pageIndexes].join(', ')}`)).toEqual([]);
};

// ---------------------------------------------------------------------------------------
// subscribe

const describeSubscribe = (store: () => EventStore): void => {
  it('catches up from `after`, then delivers live appends in log order, and ends when the signal aborts', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const [streamA, streamB] = [newStreamId(), newStreamId()];
    await log.append(store(), streamA, newEvents(2), 'no_stream');
    await log.append(store(), streamB, newEvents(1), 'no_stream');

    const subscription = new Collector(store(), marker, log);
    try {
      await subscription.waitFor(3);
      await log.append(store(), streamA, newEvents(1), 1);
      await log.append(store(), streamB, newEvents(3), 0);
      await log.append(store(), streamA, newEvents(1), 2);
      await subscription.waitForSentinel(store(), log);
      await subscription.stop();

      expect(subscription.violations).toEqual([]);
      expect(eventIds(subscription.received)).toEqual(log.order);
    } finally {
      await subscription.stop().catch(() => undefined);
    }
  });

  it('gives several subscriptions at different positions each its whole log once, in order, while appends go on', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const [streamA, streamB] = [newStreamId(), newStreamId()];
    const first = await log.append(store(), streamA, newEvents(3), 'no_stream');
    const early = new Collector(store(), marker, log);
    const late = new Collector(store(), first.position, log);
    try {
      let revisionA = 2;
      let revisionB: ExpectedRevision = 'no_stream';
      for (let round = 0; round < 10; round += 1) {
        // One after the other: TrackedLog's order is the order appends returned, which for
        // concurrent appends need not be their order in the log.
        revisionA = (await log.append(store(), streamA, newEvents(1 + (round % 3)), revisionA)).nextExpectedRevision;
        revisionB = (await log.append(store(), streamB, newEvents(2), revisionB)).nextExpectedRevision;
      }
      const third = new Collector(store(), marker, log);
      try {
        await early.waitForSentinel(store(), log);
        await late.waitFor(log.order.length - 3);
        await third.waitFor(log.order.length);
        for (const subscription of [early, late, third]) await subscription.stop();

        for (const subscription of [early, late, third]) expect(subscription.violations).toEqual([]);
        expect(eventIds(early.received)).toEqual(log.order);
        expect(eventIds(late.received)).toEqual(log.order.slice(3));
        expect(eventIds(third.received)).toEqual(log.order);
      } finally {
        await third.stop().catch(() => undefined);
      }
    } finally {
      await early.stop().catch(() => undefined);
      await late.stop().catch(() => undefined);
    }
  });

  it('subscribing from a middle position skips what came before it', async () => {
    const log = new TrackedLog();
    const streamId = newStreamId();
    await log.append(store(), streamId, newEvents(1), 'no_stream');
    const middle = await log.append(store(), streamId, newEvents(3), 0);
    await log.append(store(), streamId, newEvents(2), 3);

    const subscription = new Collector(store(), middle.position, log);
    try {
      await log.append(store(), streamId, newEvents(1), 5);
      await subscription.waitForSentinel(store(), log);
      await subscription.stop();

      expect(subscription.violations).toEqual([]);
      expect(eventIds(subscription.received)).toEqual(log.order.slice(4));
    } finally {
      await subscription.stop().catch(() => undefined);
    }
  });

  it('subscribing with `after` null catches up from the start of the log', async () => {
    const log = new TrackedLog();
    const streamId = newStreamId();
    await log.append(store(), streamId, newEvents(2), 'no_stream');
    await log.append(store(), streamId, newEvents(1), 1);

    const subscription = new Collector(store(), null, log);
    try {
      await subscription.waitForSentinel(store(), log);
      await subscription.stop();

      expect(subscription.violations).toEqual([]);
      expect(eventIds(subscription.received)).toEqual(log.order);
    } finally {
      await subscription.stop().catch(() => undefined);
    }
  });

  it('ends promptly when the signal aborts while it waits for new events', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const subscription = new Collector(store(), marker, log);
    try {
      await subscription.waitForSentinel(store(), log);

      await subscription.stop();

      expect(subscription.violations).toEqual([]);
      expect(eventIds(subscription.received)).toEqual(log.order);
    } finally {
      await subscription.stop().catch(() => undefined);
    }
  });

  it('gives two subscribers the same events independently', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const streamId = newStreamId();
    await log.append(store(), streamId, newEvents(2), 'no_stream');

    const first = new Collector(store(), marker, log);
    const second = new Collector(store(), marker, log);
    try {
      await log.append(store(), streamId, newEvents(2), 1);
      await first.waitForSentinel(store(), log);
      await second.waitFor(log.order.length);
      await Promise.all([first.stop(), second.stop()]);

      expect(eventIds(first.received)).toEqual(log.order);
      expect(eventIds(second.received)).toEqual(log.order);
    } finally {
      await Promise.all([first.stop().catch(() => undefined), second.stop().catch(() => undefined)]);
    }
  });

  it('delivers each event of concurrent appends exactly once, appends whole and in log order', async () => {
    const { position: marker } = await appendMarker(store());
    const log = new TrackedLog();
    const subscription = new Collector(store(), marker, log);
    try {
      await writeConcurrently(store(), log);
      const written = [...log.appends];
      await subscription.waitForSentinel(store(), log);
      await subscription.stop();

      expect(subscription.violations).toEqual([]);
      expectConcurrentLog(subscription.received, written);
      expect(eventIds(subscription.received.slice(-1))).toEqual(log.order.slice(-1));
    } finally {
      await subscription.stop().catch(() => undefined);
    }
  });
};

/**
 * Consumes a subscription in the background, keeping the events of the test's own
 * streams and noting any delivery out of log order or not after `after`.
 */
class Collector {
  readonly received: RecordedEvent[] = [];
  readonly violations: string[] = [];
  private readonly controller = new AbortController();
  private readonly finished: Promise<void>;
  private lastPosition: bigint | null = null;

  constructor(
    store: EventStore,
    private readonly after: bigint | null,
    private readonly log: TrackedLog,
  ) {
    const events = store.subscribe({ after, signal: this.controller.signal });
    this.finished = this.consume(events);
    this.finished.catch(() => undefined); // awaited in stop(); this only silences an early rejection
  }

  async waitFor(count: number): Promise<void> {
    await until(() => this.received.length >= count, () => `${count} events, received ${this.received.length}`);
  }

  /** Appends a sentinel and waits for it: log order means anything duplicated would have come before it. */
  async waitForSentinel(store: EventStore, log: TrackedLog): Promise<void> {
    const sentinel = newEvents(1);
    await log.append(store, newStreamId(), sentinel, 'no_stream');
    const [sentinelEvent] = sentinel;
    assert(sentinelEvent);
    await until(
      () => this.received.some((event) => event.eventId === sentinelEvent.eventId),
      () => `the sentinel event, received ${this.received.length} of ${log.order.length} events`,
    );
  }

  /** Aborts, and fails unless the iteration completes (without throwing) before the deadline. */
  async stop(): Promise<void> {
    this.controller.abort();
    await withDeadline(this.finished, ABORT_DEADLINE_MS, 'the subscription to end after its signal aborted');
  }

  private async consume(events: AsyncIterable<RecordedEvent>): Promise<void> {
    for await (const event of events) {
      this.check(event);
      if (this.log.knows(event)) this.received.push(event);
    }
  }

  private check(event: RecordedEvent): void {
    if (this.after !== null && event.position <= this.after) {
      this.violations.push(`${describeEvent(event)} is not after ${this.after}`);
    }
    if (this.lastPosition !== null && event.position < this.lastPosition) {
      this.violations.push(`${describeEvent(event)} came after position ${this.lastPosition}`);
    }
    this.lastPosition = event.position;
  }
}

// ---------------------------------------------------------------------------------------
// shared by readAll and subscribe

/**
 * The appends a test made, so reads can be filtered to them and each event traced to its
 * append. Events are registered before the append is sent: a subscription may deliver
 * them before `append` resolves. Tracked appends are expected to succeed.
 */
class TrackedLog {
  /** Event ids in append order; in log order only when the appends were made one after another. */
  readonly order: string[] = [];
  readonly appends: (readonly string[])[] = [];
  private readonly appendOfEvent = new Map<string, number>();

  append(store: EventStore, streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const index = this.appends.push(eventIds(events)) - 1;
    for (const event of events) {
      this.appendOfEvent.set(event.eventId, index);
      this.order.push(event.eventId);
    }
    return store.append(streamId, events, expected);
  }

  knows(event: RecordedEvent): boolean {
    return this.appendOfEvent.has(event.eventId);
  }

  own(events: readonly RecordedEvent[]): RecordedEvent[] {
    return events.filter((event) => this.knows(event));
  }

  appendOf(event: RecordedEvent): number | undefined {
    return this.appendOfEvent.get(event.eventId);
  }

  /** For another suite's events only a shared stream and commit position (EventStoreDB) say "one append". */
  sameAppend(a: RecordedEvent, b: RecordedEvent): boolean {
    const [appendA, appendB] = [this.appendOf(a), this.appendOf(b)];
    if (appendA !== undefined && appendB !== undefined) return appendA === appendB;
    return a.streamId === b.streamId && a.position === b.position;
  }
}

/** Several streams, each appended to in sequence with numeric revisions, all streams at once. */
const writeConcurrently = async (store: EventStore, log: TrackedLog): Promise<void> => {
  const writeStream = async (streamIndex: number): Promise<void> => {
    const streamId = newStreamId();
    let expected: ExpectedRevision = 'no_stream';
    for (let appendIndex = 0; appendIndex < APPENDS_PER_STREAM; appendIndex++) {
      const size = 1 + ((streamIndex + appendIndex) % 3);
      expected = (await log.append(store, streamId, newEvents(size), expected)).nextExpectedRevision;
    }
  };
  await Promise.all(range(CONCURRENT_STREAMS).map(writeStream));
};

/** Exactly once, each stream in revision order, each append's events adjacent, positions non-decreasing. */
const expectConcurrentLog = (delivered: readonly RecordedEvent[], appends: readonly (readonly string[])[]): void => {
  const written = new Set(appends.flat());
  const own = delivered.filter((event) => written.has(event.eventId));
  expect([...eventIds(own)].sort()).toEqual([...written].sort());
  expect(positionRegressions(own)).toEqual([]);
  const revisionsByStream = new Map<string, number[]>();
  for (const event of own) revisionsByStream.set(event.streamId, [...(revisionsByStream.get(event.streamId) ?? []), event.streamRevision]);
  for (const revisions of revisionsByStream.values()) expect(revisions).toEqual(range(revisions.length));
  const ids = eventIds(own);
  const torn = appends.filter((append) => {
    const start = ids.indexOf(append[0] ?? '');
    return append.some((eventId, offset) => ids[start + offset] !== eventId);
  });
  expect(torn).toEqual([]);
};

const readAllPages = async (
  store: EventStore,
  after: bigint | null,
  limit: number,
  options: ReadAllOptions = {},
): Promise<RecordedEvent[][]> => {
  const pages: RecordedEvent[][] = [];
  let cursor = after;
  for (let pageIndex = 0; pageIndex < READ_ALL_MAX_PAGES; pageIndex++) {
    const page = await store.readAll(cursor, limit, options);
    if (page.length === 0) return pages;
    const notAfter = page.filter((event) => cursor !== null && event.position <= cursor);
    expect(notAfter.map(describeEvent)).toEqual([]);
    pages.push([...page]);
    cursor = lastOf(page).position;
  }
  throw new Error(`readAll returned more than ${READ_ALL_MAX_PAGES} pages of ${limit}`);
};

// ---------------------------------------------------------------------------------------
// small helpers

const newStreamId = (): string => `credit-account-contract-${randomUUID()}`;

const appendMarker = (store: EventStore): Promise<AppendResult> => store.append(newStreamId(), newEvents(1), 'no_stream');

const newEvents = (count: number): NewEvent[] =>
  Array.from({ length: count }, (_, index) => ({
    eventId: randomUUID(),
    type: 'ContractEventRecorded',
    data: { schemaVersion: 1, index },
    metadata: { correlationId: randomUUID() },
  }));

const eventIds = (events: readonly { readonly eventId: string }[]): string[] => events.map((event) => event.eventId);

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

const lastOf = <T>(items: readonly T[]): T => {
  const last = items[items.length - 1];
  assert(last !== undefined, 'lastOf needs a non-empty list');
  return last;
};

const describeEvent = (event: RecordedEvent): string => `${event.streamId}@${event.streamRevision} (position ${event.position})`;

/** Every place where the log order goes backwards; an empty list means non-decreasing positions. */
const positionRegressions = (events: readonly RecordedEvent[]): string[] =>
  events.flatMap((event, index) => {
    const previous = events[index - 1];
    return previous !== undefined && event.position < previous.position ? [`${describeEvent(event)} after ${describeEvent(previous)}`] : [];
  });

const byPositionThenRevision = (a: RecordedEvent, b: RecordedEvent): number =>
  a.position === b.position ? a.streamRevision - b.streamRevision : a.position < b.position ? -1 : 1;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const until = async (condition: () => boolean, what: () => string): Promise<void> => {
  const deadline = Date.now() + WAIT_DEADLINE_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_DEADLINE_MS} ms waiting for ${what()}`);
    await sleep(WAIT_POLL_MS);
  }
};

const withDeadline = async <T>(promise: Promise<T>, deadlineMs: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)), deadlineMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
};
