import { randomUUID } from 'node:crypto';
import type { RecordedEvent } from '../../src/application/event-store.port';
import { PostgresEventStore, TAIL_CACHE_EVENTS } from '../../src/infrastructure/event-store/postgres-event-store';
import { testDatabaseTargets, type TestDatabase } from '../support/databases';

const event = (id: string) => ({ eventId: randomUUID(), type: 'Probe', data: { id }, metadata: {} });
const ids = (page: readonly RecordedEvent[] | undefined): string[] => (page ?? []).map((recorded) => (recorded.data as { id: string }).id);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(testDatabaseTargets())('PostgreSQL event store: subscribeInPages on %s', (_name, createDatabase) => {
  let database: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    database = await createDatabase();
    store = await PostgresEventStore.open(database.client, { pollIntervalMs: 20 });
  });

  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  const append = async (id: string) => store.append(`probe-${randomUUID()}`, [event(id)], 'no_stream');
  const head = async () => (await store.headPosition()) ?? null;

  /** The pages after `after`, ended (its signal aborted) when the test ends if not before. */
  const closers: Array<() => Promise<void>> = [];
  const pagesAfter = (after: bigint | null, options: { readonly maxSize: number; readonly lingerMs?: number }) => {
    const abort = new AbortController();
    const pages = store.subscribeInPages({ after, signal: abort.signal, ...options })[Symbol.asyncIterator]();
    closers.push(async () => {
      abort.abort();
      await pages.return?.();
    });
    return { pages, abort };
  };
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('reads a page only when the consumer asks for it: what committed while it held the last one comes whole', async () => {
    const after = await head();
    await append('first');
    const { pages } = pagesAfter(after, { maxSize: 100 });
    expect(ids((await pages.next()).value)).toEqual(['first']);
    // The consumer is busy with that page; meanwhile two appends commit, then some time passes.
    await append('second');
    await pause(60);
    await append('third');
    await pause(60);
    // A page read ahead of the ask would hold 'second' alone (or nothing).
    expect(ids((await pages.next()).value)).toEqual(['second', 'third']);
  });

  it('lingers after a wake-up, so an append that follows soon after lands in the same page', async () => {
    const after = await head();
    const { pages } = pagesAfter(after, { maxSize: 100, lingerMs: 400 });
    const next = pages.next();
    await pause(30); // caught up and waiting for an append
    await append('burst-1');
    await pause(50);
    await append('burst-2');
    expect(ids((await next).value)).toEqual(['burst-1', 'burst-2']);
  });

  it('reads the next page at once after a full one, and splits no page beyond its size', async () => {
    const after = await head();
    for (let index = 0; index < 5; index += 1) await append(`backlog-${index}`);
    const { pages } = pagesAfter(after, { maxSize: 2, lingerMs: 5_000 });
    const started = performance.now();
    const got = [ids((await pages.next()).value), ids((await pages.next()).value), ids((await pages.next()).value)];
    // Two full pages, then the rest: no 5 s linger between them.
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(got).toEqual([['backlog-0', 'backlog-1'], ['backlog-2', 'backlog-3'], ['backlog-4']]);
  });

  it('never splits one append, even one larger than a page', async () => {
    const after = await head();
    await store.append(`probe-${randomUUID()}`, ['big-0', 'big-1', 'big-2', 'big-3', 'big-4'].map(event), 'no_stream');
    await append('after-big');
    const { pages } = pagesAfter(after, { maxSize: 2 });
    expect(ids((await pages.next()).value)).toEqual(['big-0', 'big-1', 'big-2', 'big-3', 'big-4']);
    expect(ids((await pages.next()).value)).toEqual(['after-big']);
  });

  it('ends at once when the signal aborted while the consumer held a page, or while it was caught up', async () => {
    const after = await head();
    await append('held');
    const { pages, abort: holding } = pagesAfter(after, { maxSize: 100, lingerMs: 5_000 });
    expect(ids((await pages.next()).value)).toEqual(['held']);
    holding.abort(); // a runner stopping while it applies that page
    let started = performance.now();
    expect((await pages.next()).done).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);

    const { pages: idle, abort: caughtUp } = pagesAfter(await head(), { maxSize: 100, lingerMs: 5_000 });
    const next = idle.next();
    await pause(50); // nothing to read: waiting for an append
    started = performance.now();
    caughtUp.abort();
    expect((await next).done).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('ends promptly when the signal aborts while it lingers or waits', async () => {
    const after = await head();
    await append('last');
    const { pages, abort } = pagesAfter(after, { maxSize: 100, lingerMs: 5_000 });
    expect(ids((await pages.next()).value)).toEqual(['last']);
    const next = pages.next(); // now lingering for 5 s before its next read
    const started = performance.now();
    abort.abort();
    expect((await next).done).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
  it('keeps no tail for a lone subscription', async () => {
    const after = await head();
    await append('alone-1');
    await append('alone-2');
    const { pages } = pagesAfter(after, { maxSize: 100 });
    expect(ids((await pages.next()).value)).toEqual(['alone-1', 'alone-2']);
    expect(store.tailCacheEvents).toBe(0);
  });

  it('serves a second subscription from the tail the first one read, and lets it go when one is left', async () => {
    const after = await head();
    await append('shared-1');
    await append('shared-2');
    const first = pagesAfter(after, { maxSize: 100 });
    const second = pagesAfter(after, { maxSize: 100 });
    // Both started (each asked for its first page) before either page is looked at.
    const [page1, page2] = await Promise.all([first.pages.next(), second.pages.next()]);
    expect(ids(page1.value)).toEqual(['shared-1', 'shared-2']);
    expect(ids(page2.value)).toEqual(['shared-1', 'shared-2']);
    await append('shared-3');
    const read = (await first.pages.next()).value as readonly RecordedEvent[];
    expect(ids(read)).toEqual(['shared-3']);
    expect(store.tailCacheEvents).toBeGreaterThan(0);
    // Served from the tail: the very event the first subscription was given, not a second read.
    const served = (await second.pages.next()).value as readonly RecordedEvent[];
    expect(served).toHaveLength(1);
    expect(served[0]).toBe(read[0]);

    second.abort.abort();
    await second.pages.return?.();
    await append('shared-4');
    expect(ids((await first.pages.next()).value)).toEqual(['shared-4']);
    expect(store.tailCacheEvents).toBe(0);
  });

  it('holds at most TAIL_CACHE_EVENTS events, and a subscription behind it still reads the whole log', async () => {
    const after = await head();
    const total = TAIL_CACHE_EVENTS + 600;
    const names = Array.from({ length: total }, (_, index) => `bulk-${index}`);
    for (let start = 0; start < total; start += 100) {
      await store.append(`probe-${randomUUID()}`, names.slice(start, start + 100).map(event), 'no_stream');
    }
    const ahead = pagesAfter(after, { maxSize: 500 });
    const behind = pagesAfter(after, { maxSize: 500 });
    // `behind` reads its first page (bulk-0 to bulk-499), then waits while `ahead` reads everything.
    const behindIds = ids((await behind.pages.next()).value);
    expect(behindIds).toHaveLength(500);
    const aheadIds: string[] = [];
    while (aheadIds.length < total) aheadIds.push(...ids((await ahead.pages.next()).value));
    expect(aheadIds).toEqual(names);
    expect(store.tailCacheEvents).toBe(TAIL_CACHE_EVENTS);
    // The tail now starts after bulk-599: `behind`'s next page (from bulk-500) comes from the
    // table, and the ones after it from the tail.
    while (behindIds.length < total) behindIds.push(...ids((await behind.pages.next()).value));
    expect(behindIds).toEqual(names);
  });
});
