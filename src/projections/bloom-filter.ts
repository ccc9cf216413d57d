/**
 * 2^25 bits, 4 MiB, and 4 hashes: once a million keys are in, about 1 new key in 6,000 is taken
 * for seen (32 of the first million in a trial).
 */
const DEFAULT_SIZE_BITS = 2 ** 25;
const DEFAULT_HASHES = 4;

/** Murmur3's finalizer: every bit of the input moves about half the bits of the output. */
const mix = (hash: number): number => {
  let h = hash;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

/**
 * A Bloom filter of strings in a fixed amount of memory. `add` answers whether a key was
 * surely not added before: never for a key that was (no false negatives), and now and then
 * wrongly not for a new one (a false positive), more often the fuller the filter.
 */
export class BloomFilter {
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(
    sizeBits: number = DEFAULT_SIZE_BITS,
    private readonly hashes: number = DEFAULT_HASHES,
  ) {
    if (!Number.isInteger(Math.log2(sizeBits)) || sizeBits < 32 || sizeBits > 2 ** 31) throw new Error(`a Bloom filter's size is a power of two from 32 to 2^31 bits, not ${sizeBits}`);
    if (!Number.isInteger(hashes) || hashes < 1) throw new Error(`a Bloom filter needs at least one hash, not ${hashes}`);
    this.words = new Uint32Array(sizeBits / 32);
    this.mask = sizeBits - 1;
  }

  /** Adds `key`; true when it surely was not in the filter before. */
  add(key: string): boolean {
    // Two FNV-1a-style hashes in one pass, finalized, then double hashing for the k bit positions.
    let a = 0x811c9dc5;
    let b = 0x01000193;
    for (let index = 0; index < key.length; index += 1) {
      const code = key.charCodeAt(index);
      a = Math.imul(a ^ code, 16777619);
      b = Math.imul(b ^ code, 0x5bd1e995);
    }
    const first = mix(a);
    const step = mix(b) | 1;
    let added = false;
    for (let round = 0; round < this.hashes; round += 1) {
      const bit = (first + Math.imul(round, step)) & this.mask;
      const word = bit >>> 5;
      const flag = 1 << (bit & 31);
      const current = this.words[word] ?? 0;
      if ((current & flag) === 0) {
        added = true;
        this.words[word] = current | flag;
      }
    }
    return added;
  }
}
