import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { NewEvent, RecordedEvent } from '../../../src/application/event-store.port';
import { chainEvents, ChainVerifier, eventHash, GENESIS_HASH } from '../../../src/application/accounts/event-chain';
import { canonicalJson } from '../../../src/application/canonical-json';

const STREAM = 'credit-account-alice';

const newEvent = (eventId: string, data: object): NewEvent => ({ eventId, type: 'CreditsGranted', data, metadata: { schemaVersion: 1 } });

/** Stored events as an adapter returns them: jsonb may hand keys back in another order. */
const recorded = (events: readonly NewEvent[], firstRevision = 0, firstPosition = 10n): RecordedEvent[] =>
  events.map((event, index) => ({
    ...event,
    data: Object.fromEntries(Object.entries(event.data).reverse()),
    streamId: STREAM,
    streamRevision: firstRevision + index,
    position: firstPosition + BigInt(index),
    recordedAt: new Date('2026-11-24T10:00:00Z'),
  }));

const chained = (count: number): NewEvent[] =>
  chainEvents(
    STREAM,
    0,
    GENESIS_HASH,
    Array.from({ length: count }, (_, index) => newEvent(`e${index}`, { creditsMillicredits: 1000 * (index + 1), reason: `r${index}` })),
  );

const problemsOf = (events: readonly RecordedEvent[]) => {
  const verifier = new ChainVerifier();
  return events.flatMap((event) => verifier.check(event)).map(({ kind, streamRevision }) => ({ kind, streamRevision }));
};

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"e":2,"f":1}]},"b":1}');
  });

  it('orders keys by UTF-16 code units, as Array.prototype.sort does, with few keys and with many', () => {
    const tricky = ['b', 'B', 'a', '', 'aa', 'a0', '10', '9', '\u00e9', 'z', '\ud83d\ude00', '\uffff', '_', ' '];
    const many = Array.from({ length: 40 }, (_, index) => `k${(index * 7919) % 40}`);
    for (const keys of [tricky, many, [...tricky, ...many]]) {
      const value = Object.fromEntries(keys.map((key, index) => [key, index]));
      const expected = `{${[...keys].sort().map((key) => `${JSON.stringify(key)}:${value[key]}`).join(',')}}`;
      expect(canonicalJson(value)).toBe(expected);
      expect(canonicalJson({ nested: [value] })).toBe(`{"nested":[${expected}]}`);
    }
  });

  it('gives the same text for the same value whatever the key order', () => {
    expect(canonicalJson({ x: 1, y: [1, 2], z: null })).toBe(canonicalJson({ z: null, y: [1, 2], x: 1 }));
  });

  it('is JSON of the same value with its keys sorted, for any JSON value', () => {
    const sortedCopy = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(sortedCopy);
      if (value === null || typeof value !== 'object') return value;
      const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return Object.fromEntries(keys.map((key) => [key, sortedCopy((value as Record<string, unknown>)[key])]));
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // Integer-like keys are the exception: an object lists them first whatever the order, so compare parsed values too.
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        if (!/"\d+":/.test(text)) expect(text).toBe(JSON.stringify(sortedCopy(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes an event exactly as the stored chains were hashed (a fixed vector: the chain of a stored log must not change)', () => {
    expect(
      eventHash(GENESIS_HASH, {
        streamId: 'credit-account-alice',
        streamRevision: 3,
        eventId: 'evt-1',
        type: 'CreditsUsed',
        schemaVersion: 1,
        data: {
          accountId: 'alice',
          chargedMillicredits: 1500,
          draws: [
            { lotId: 'lot-b', millicredits: 500 },
            { lotId: 'lot-a', millicredits: 1000 },
          ],
          metadata: { é: 'ü', Z: null, a: [1, 'x', true] },
          occurredAt: '2026-01-01T00:00:00.000Z',
        },
      }),
    ).toBe('b4e1d792cf9162e319b8b088b5bef05aefac019e19f534434d682bace5f13503');
  });
});

describe('chainEvents', () => {
  it('links each event to the previous one, starting from the genesis hash', () => {
    const [first, second] = chained(2);
    expect(first?.metadata).toEqual({ schemaVersion: 1, prevHash: GENESIS_HASH, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(second?.metadata['prevHash']).toBe(first?.metadata['hash']);
  });

  it('hashes the previous hash and the canonical content with SHA-256', () => {
    const [first] = chained(1);
    const expected = createHash('sha256')
      .update(
        canonicalJson({
          prevHash: GENESIS_HASH,
          streamId: STREAM,
          streamRevision: 0,
          eventId: 'e0',
          type: 'CreditsGranted',
          schemaVersion: 1,
          data: { creditsMillicredits: 1000, reason: 'r0' },
        }),
      )
      .digest('hex');
    expect(first?.metadata['hash']).toBe(expected);
  });

  it('gives a different hash for the same content at another revision', () => {
    const content = { streamId: STREAM, eventId: 'e', type: 'T', schemaVersion: 1, data: {} };
    expect(eventHash(GENESIS_HASH, { ...content, streamRevision: 0 })).not.toBe(eventHash(GENESIS_HASH, { ...content, streamRevision: 1 }));
  });
});

describe('ChainVerifier', () => {
  it('accepts an intact chain, whatever order the store returns keys in', () => {
    expect(problemsOf(recorded(chained(5)))).toEqual([]);
  });

  it('reports an event whose data was changed, once', () => {
    const events = recorded(chained(4));
    const third = events[2];
    if (third === undefined) throw new Error('no third event');
    events[2] = { ...third, data: { ...third.data, creditsMillicredits: 999_999 } };
    expect(problemsOf(events)).toEqual([{ kind: 'hash_mismatch', streamRevision: 2 }]);
  });

  it('reports an event removed from the middle of a stream', () => {
    const events = recorded(chained(4)).filter((event) => event.streamRevision !== 1);
    expect(problemsOf(events)).toEqual([
      { kind: 'revision_gap', streamRevision: 2 },
      { kind: 'broken_link', streamRevision: 2 },
      { kind: 'hash_mismatch', streamRevision: 2 },
    ]);
  });

  it('reports an event without a hash', () => {
    expect(problemsOf(recorded([newEvent('legacy', { creditsMillicredits: 1 })]))).toEqual([{ kind: 'missing_hash', streamRevision: 0 }]);
  });

  it('reports two events swapped', () => {
    const [a, b, c] = chained(3);
    if (a === undefined || b === undefined || c === undefined) throw new Error('three events');
    expect(problemsOf(recorded([a, c, b])).map((problem) => problem.kind)).toContain('broken_link');
  });
});
