import fc from 'fast-check';
import { BloomFilter } from '../../../src/projections/bloom-filter';

describe('BloomFilter', () => {
  it('never answers "surely new" for a key added before, whatever the keys and however full the filter', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 400 }), fc.integer({ min: 5, max: 12 }), fc.integer({ min: 1, max: 6 }), (keys, sizeLog, hashes) => {
        // Filters as small as 32 bits: most keys collide, and none may ever be taken for new twice.
        const filter = new BloomFilter(2 ** sizeLog, hashes);
        const added = new Set<string>();
        for (const key of keys) {
          const surelyNew = filter.add(key);
          if (added.has(key)) expect(surelyNew).toBe(false);
          added.add(key);
        }
        for (const key of added) expect(filter.add(key)).toBe(false);
      }),
    );
  });

  it('takes few new keys for seen at the load a rebuild gives it: 50,000 cell keys in 2^20 bits', () => {
    const filter = new BloomFilter(2 ** 20, 4);
    let takenForSeen = 0;
    for (let account = 0; account < 500; account += 1) {
      for (let cell = 0; cell < 100; cell += 1) {
        const accountId = `seed-${String(account).padStart(6, '0')}`;
        const day = `2026-11-${String(1 + (cell % 30)).padStart(2, '0')}`;
        if (!filter.add(`${accountId.length}:${accountId}${5 + (cell % 4)}:svc-${cell % 4}x${day}#${cell}`)) takenForSeen += 1;
      }
    }
    // 21 bits a key and 4 hashes: about 1 in 2,000 in theory; 1% would mean the hashes are poor.
    expect(takenForSeen).toBeLessThan(500);
  });

  it('refuses a size that is not a power of two and a hash count below one', () => {
    expect(() => new BloomFilter(1000)).toThrow(/power of two/);
    expect(() => new BloomFilter(16)).toThrow(/power of two/);
    expect(() => new BloomFilter(2 ** 10, 0)).toThrow(/at least one hash/);
  });
});
