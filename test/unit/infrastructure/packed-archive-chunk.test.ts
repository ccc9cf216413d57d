import { randomBytes } from 'node:crypto';
import { archiveKey } from '../../../src/application/accounts/archived-commands';
import { PACKED_FORMAT, packArchiveChunk, unpackArchiveChunk } from '../../../src/infrastructure/postgres/packed-archive-chunk';

const pairsOf = (keys: readonly number[], times: readonly number[]): number[] => keys.flatMap((key, index) => [key, times[index] as number]);

describe('packed archive chunks (snapshot version 5)', () => {
  it('gives back every (key, recorded at) pair in order, whatever the keys and however the times move', () => {
    const keys = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, archiveKey('request:a'), archiveKey('request:b'), 2 ** 52 + 12_345];
    // Forward, standing still, backward (a record taken again), far apart, and before 1970.
    const times = [1_796_000_000_000, 1_796_000_000_000, 1_796_000_002_600, 1_795_999_000_000, 1_796_086_400_000, 0, -86_400_000, 2 ** 45];

    const packed = packArchiveChunk(keys, times);

    expect(packed[0]).toBe(PACKED_FORMAT);
    expect([...unpackArchiveChunk(packed)]).toEqual(pairsOf(keys, times));
  });

  it('takes 7 bytes a key and a few a time, not the 16 of float64 pairs', () => {
    const count = 33_334;
    const keys = Array.from({ length: count }, (_, index) => archiveKey(`request:${index}`));
    // A day's commands, about 2.6 s apart, as in the bench's 1M-event account.
    const times = Array.from({ length: count }, (_, index) => 1_796_000_000_000 + index * 2_592);

    const packed = packArchiveChunk(keys, times);

    // 1 format byte, 3 of count, 7 per key, 2 per time after the first (6).
    expect(packed.length).toBe(1 + 3 + count * 7 + 6 + (count - 1) * 2);
    expect([...unpackArchiveChunk(packed)]).toEqual(pairsOf(keys, times));
  });

  it('packs no commands into two bytes, and reads them back as none', () => {
    const packed = packArchiveChunk([], []);
    expect([...packed]).toEqual([PACKED_FORMAT, 0]);
    expect(unpackArchiveChunk(packed)).toHaveLength(0);
  });

  it('refuses every cut of a chunk, and bytes after its end, rather than forget ids', () => {
    const keys = Array.from({ length: 40 }, () => randomBytes(7).readUIntBE(0, 6) * 32);
    const times = Array.from({ length: 40 }, (_, index) => 1_796_000_000_000 + index * 300_000);
    const packed = packArchiveChunk(keys, times);

    for (let length = 0; length < packed.length; length += 1) {
      expect(() => unpackArchiveChunk(packed.subarray(0, length))).toThrow(`a packed archive chunk of ${length} bytes is not whole`);
    }
    expect(() => unpackArchiveChunk(Buffer.concat([packed, Buffer.from([0])]))).toThrow('1 bytes follow the last command');
  });

  it('refuses another format, and a count the bytes cannot hold', () => {
    const packed = packArchiveChunk([archiveKey('request:a')], [1_796_000_000_000]);
    expect(() => unpackArchiveChunk(Buffer.concat([Buffer.from([PACKED_FORMAT + 1]), packed.subarray(1)]))).toThrow(`format ${PACKED_FORMAT + 1}, not ${PACKED_FORMAT}`);
    // A count of 2^49 in an otherwise tiny chunk: refused before any allocation.
    const huge = Buffer.from([PACKED_FORMAT, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => unpackArchiveChunk(huge)).toThrow('it cannot hold 562949953421312 commands');
    expect(() => unpackArchiveChunk(Buffer.from([PACKED_FORMAT, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow('longer than 8 bytes');
  });

  it('refuses to pack what it could not give back exactly', () => {
    expect(() => packArchiveChunk([2 ** 53], [0])).toThrow('archive key 9007199254740992 is not a 53-bit integer');
    expect(() => packArchiveChunk([-1], [0])).toThrow('is not a 53-bit integer');
    expect(() => packArchiveChunk([1], [Number.NaN])).toThrow('archive time NaN is not a whole number of ms');
    expect(() => packArchiveChunk([1], [1.5])).toThrow('archive time 1.5 is not a whole number of ms');
    expect(() => packArchiveChunk([1, 2], [0])).toThrow('2 archive keys but 1 times');
  });
});
