/**
 * The commands one snapshot archived, packed (snapshot version 5): every load reads the
 * whole idempotency window's chunks, and their bytes were most of the time a cold load of
 * a long-lived account took (bench/README.md). Version 4 kept a little-endian float64 pair
 * per command in base64 inside JSON, 21.3 characters a command; this keeps 9 to 10 bytes.
 *
 *   byte 0         the format, PACKED_FORMAT
 *   varint         n, the number of commands
 *   n × 7 bytes    each command's archiveKey (53 bits, big-endian), in archive order
 *   n × varint     when each was recorded (epoch ms), as the zigzag-coded difference from
 *                  the one before (the first from 0): in archive order they are close together
 *
 * Varints are unsigned LEB128, 7 bits a byte, lowest first. Every number is a safe integer
 * and is computed with arithmetic, not 32-bit bit operations.
 */
export const PACKED_FORMAT = 1;

const KEY_BYTES = 7;
const TWO_32 = 2 ** 32;
/** A varint of a safe integer takes at most 8 bytes (53 bits / 7). */
const MAX_VARINT_BYTES = 8;

const zigzag = (value: number): number => (value >= 0 ? value * 2 : -value * 2 - 1);
const unzigzag = (value: number): number => (value % 2 === 0 ? value / 2 : -(value + 1) / 2);

const writeVarint = (bytes: Uint8Array, offset: number, value: number): number => {
  let rest = value;
  while (rest >= 0x80) {
    bytes[offset] = (rest % 0x80) | 0x80;
    offset += 1;
    rest = Math.floor(rest / 0x80);
  }
  bytes[offset] = rest;
  return offset + 1;
};

/** Packs parallel arrays of keys and times (epoch ms), in archive order. */
export const packArchiveChunk = (keys: ArrayLike<number>, recordedAt: ArrayLike<number>): Buffer => {
  const count = keys.length;
  if (recordedAt.length !== count) throw new RangeError(`${count} archive keys but ${recordedAt.length} times`);
  const bytes = Buffer.allocUnsafe(1 + MAX_VARINT_BYTES + count * (KEY_BYTES + MAX_VARINT_BYTES));
  bytes[0] = PACKED_FORMAT;
  let offset = writeVarint(bytes, 1, count);
  for (let index = 0; index < count; index += 1) {
    const key = keys[index] as number;
    if (!Number.isSafeInteger(key) || key < 0) throw new RangeError(`archive key ${key} is not a 53-bit integer`);
    const high = Math.floor(key / TWO_32);
    bytes[offset] = high >>> 16;
    bytes[offset + 1] = (high >>> 8) & 0xff;
    bytes[offset + 2] = high & 0xff;
    bytes.writeUInt32BE(key % TWO_32, offset + 3);
    offset += KEY_BYTES;
  }
  let previous = 0;
  for (let index = 0; index < count; index += 1) {
    const at = recordedAt[index] as number;
    const delta = at - previous;
    // Times are whole milliseconds since 1970, so no difference comes near 2^52.
    if (!Number.isSafeInteger(at) || !Number.isSafeInteger(zigzag(delta))) throw new RangeError(`archive time ${at} is not a whole number of ms`);
    offset = writeVarint(bytes, offset, zigzag(delta));
    previous = at;
  }
  return bytes.subarray(0, offset);
};

/**
 * A packed chunk's (key, recorded at) pairs, in their order. Throws on anything but a whole
 * chunk of this format: a chunk read short would silently forget ids, and a repeat of one
 * would then be applied again.
 */
export const unpackArchiveChunk = (bytes: Uint8Array): Float64Array => {
  const fail = (why: string): never => {
    throw new Error(`a packed archive chunk of ${bytes.length} bytes is not whole: ${why}`);
  };
  if (bytes[0] !== PACKED_FORMAT) fail(`format ${bytes[0] ?? 'missing'}, not ${PACKED_FORMAT}`);
  let offset = 1;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let read = 0; read < MAX_VARINT_BYTES; read += 1) {
      if (offset >= bytes.length) return fail('a number runs past the end');
      const byte = bytes[offset] as number;
      offset += 1;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    return fail('a number is longer than 8 bytes');
  };
  const count = readVarint();
  const timesAt = offset + count * KEY_BYTES;
  // Each time takes at least a byte: a count the bytes cannot hold is a cut chunk, not an allocation to try.
  if (timesAt + count > bytes.length) fail(`it cannot hold ${count} commands`);
  const pairs = new Float64Array(count * 2);
  for (let index = 0; index < count; index += 1) {
    const at = offset + index * KEY_BYTES;
    const high = ((bytes[at] as number) << 16) | ((bytes[at + 1] as number) << 8) | (bytes[at + 2] as number);
    const low = (((bytes[at + 3] as number) << 24) >>> 0) + (((bytes[at + 4] as number) << 16) | ((bytes[at + 5] as number) << 8) | (bytes[at + 6] as number));
    pairs[2 * index] = high * TWO_32 + low;
  }
  offset = timesAt;
  let previous = 0;
  for (let index = 0; index < count; index += 1) {
    previous += unzigzag(readVarint());
    pairs[2 * index + 1] = previous;
  }
  if (offset !== bytes.length) fail(`${bytes.length - offset} bytes follow the last command`);
  return pairs;
};
