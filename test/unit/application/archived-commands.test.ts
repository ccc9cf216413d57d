import { createHash } from 'node:crypto';
import { archiveKey, ArchivedCommandIndex } from '../../../src/application/accounts/archived-commands';

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** What the index replaced: a Map in insertion order, forgotten from the front. */
class ModelIndex {
  readonly entries = new Map<number, number>();
  add(key: number, at: number): void {
    const earlier = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, earlier === undefined ? at : Math.max(earlier, at));
  }
  forgetRecordedBefore(before: number): void {
    for (const [key, at] of this.entries) {
      if (at >= before) break;
      this.entries.delete(key);
    }
  }
}

const expectSame = (index: ArchivedCommandIndex, model: ModelIndex): void => {
  expect(index.size).toBe(model.entries.size);
  expect([...index.keys()]).toEqual([...model.entries.keys()]);
  for (const [key, at] of model.entries) expect(index.recordedAt(key)).toBe(at);
};

describe('archiveKey', () => {
  it('is the first 53 bits of the SHA-256 of the id', () => {
    const digest = createHash('sha256').update('request:abc').digest();
    const bits = BigInt(`0x${digest.subarray(0, 7).toString('hex')}`) >> 3n;
    expect(archiveKey('request:abc')).toBe(Number(bits));
    expect(Number.isSafeInteger(archiveKey('request:abc'))).toBe(true);
  });

  it('gives distinct ids distinct keys across a large window', () => {
    const keys = new Set(Array.from({ length: 50_000 }, (_, i) => archiveKey(`request:${i}`)));
    expect(keys.size).toBe(50_000);
    // The top bits are used too: a truncation to 32 bits would leave every key below 2^32.
    expect(Math.max(...keys)).toBeGreaterThan(2 ** 52);
  });
});

describe('ArchivedCommandIndex', () => {
  it('answers what a Map in archive order would, from a load with repeats, through adds, re-adds, deletes, forgetting, growth and copies', () => {
    const next = random(7);
    const model = new ModelIndex();
    let clock = 1_000;
    const pool = Array.from({ length: 3_000 }, (_, i) => archiveKey(`command-${i}`));
    const pick = (): number => pool[Math.floor(next() * pool.length)] as number;
    // Loaded from pairs first (as a load does, repeats included), then changed as a writer does.
    const loadedKeys = Array.from({ length: 1_500 }, pick);
    const loadedAt = loadedKeys.map(() => (clock += 1));
    loadedKeys.forEach((key, i) => model.add(key, loadedAt[i] as number));
    const index = ArchivedCommandIndex.of(loadedKeys, loadedAt);
    expect(model.entries.size).toBeLessThan(1_500);
    expectSame(index, model);
    for (let step = 0; step < 40_000; step += 1) {
      const roll = next();
      if (roll < 0.6) {
        clock += Math.floor(next() * 3);
        const key = pick();
        index.add(key, clock);
        model.add(key, clock);
      } else if (roll < 0.85) {
        const key = pick();
        expect(index.delete(key)).toBe(model.entries.delete(key));
      } else if (roll < 0.98) {
        const key = pick();
        expect(index.recordedAt(key)).toBe(model.entries.get(key));
        expect(index.has(key)).toBe(model.entries.has(key));
      } else {
        const before = clock - Math.floor(next() * 200);
        index.forgetRecordedBefore(before);
        model.forgetRecordedBefore(before);
      }
      if (step % 5_000 === 0) expectSame(index, model);
    }
    expectSame(index, model);
    // A copy answers the same and then changes on its own.
    const copy = index.copy();
    expectSame(copy, model);
    const [first] = model.entries.keys();
    if (first === undefined) throw new Error('the model emptied out');
    copy.delete(first);
    expect(index.recordedAt(first)).toBe(model.entries.get(first));
    expect(copy.recordedAt(first)).toBeUndefined();
  });

  it('is built from parallel arrays in archive order, a repeated key keeping its last place', () => {
    const index = ArchivedCommandIndex.of([5, 9, 5, 12], [100, 200, 300, 400]);
    expect([...index.keys()]).toEqual([9, 5, 12]);
    expect(index.recordedAt(5)).toBe(300);
    expect(index.size).toBe(3);
    expect(index.recordedAt(6)).toBeUndefined();
  });

  it('keeps the later time of a key archived twice (two ids sharing a key stay known as long as the newer needs)', () => {
    const index = ArchivedCommandIndex.of([5, 9, 5], [300, 200, 100]);
    expect([...index.keys()]).toEqual([9, 5]);
    expect(index.recordedAt(5)).toBe(300);
    index.add(9, 50);
    expect([...index.keys()]).toEqual([5, 9]);
    expect(index.recordedAt(9)).toBe(200);
    index.forgetRecordedBefore(250);
    expect([...index.keys()]).toEqual([5, 9]); // 5 (300) is first and is kept, so nothing after it goes
  });

  it('forgets from the oldest end and stops at the first entry recorded at or after the limit', () => {
    const index = ArchivedCommandIndex.of([1, 2, 3, 4], [10, 30, 20, 40]);
    index.forgetRecordedBefore(25);
    // 3 was recorded before the limit but archived after 2, which is kept: it stays, as with the Map.
    expect([...index.keys()]).toEqual([2, 3, 4]);
    index.forgetRecordedBefore(1_000);
    expect(index.size).toBe(0);
    expect([...index.keys()]).toEqual([]);
    index.add(7, 50);
    expect([...index.keys()]).toEqual([7]);
  });

  it('keeps lookups working when keys collide in the table and through many deletions', () => {
    // Keys equal modulo every table size probe the same slots.
    const keys = Array.from({ length: 200 }, (_, i) => i * 2 ** 40);
    const index = ArchivedCommandIndex.of(keys, keys.map((_, i) => i));
    for (let i = 0; i < keys.length; i += 2) expect(index.delete(keys[i] as number)).toBe(true);
    for (let i = 0; i < keys.length; i += 1) expect(index.recordedAt(keys[i] as number)).toBe(i % 2 === 0 ? undefined : i);
    for (let round = 0; round < 50; round += 1) {
      // Keys not in the index yet that collide with the ones in it: tombstones pile up on one run of slots.
      index.add((1_000 + round) * 2 ** 40, 1_000 + round);
      expect(index.delete((1_000 + round) * 2 ** 40)).toBe(true);
    }
    expect(index.size).toBe(100);
    for (let i = 1; i < keys.length; i += 2) expect(index.recordedAt(keys[i] as number)).toBe(i);
  });

  it('starts empty without arrays of its own, and empties and copies stay apart', () => {
    const shared = ArchivedCommandIndex.empty();
    const first = shared.copy();
    const second = shared.copy();
    first.add(11, 100);
    expect(first.recordedAt(11)).toBe(100);
    expect(second.recordedAt(11)).toBeUndefined();
    expect(shared.size).toBe(0);
    expect(ArchivedCommandIndex.of([], []).size).toBe(0);
    // Emptied by deletes, then filled again past the first capacity.
    first.delete(11);
    expect(first.copy().size).toBe(0);
    for (let key = 0; key < 100; key += 1) first.add(key, key);
    expect(first.size).toBe(100);
    expect([...first.keys()]).toEqual(Array.from({ length: 100 }, (_, key) => key));
    expect(second.size).toBe(0);
  });

  it('refuses a key that is not a 53-bit integer', () => {
    const index = ArchivedCommandIndex.empty();
    expect(() => index.add(2 ** 53, 1)).toThrow(RangeError);
    expect(() => index.add(-1, 1)).toThrow(RangeError);
    expect(() => index.add(1.5, 1)).toThrow(RangeError);
  });
});
