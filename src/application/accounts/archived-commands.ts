import { hash } from 'node:crypto';

/**
 * The key an archived command is known by: the first 53 bits of the SHA-256 of its id,
 * a number JavaScript holds exactly. Two ids of one account's idempotency window share a
 * key with a chance of about n / 2^53 per new command (4e-12 with 33,000 archived ids);
 * the new command would then be taken for a repeat, its record not found, and refused
 * with an error: never applied twice, never answered with another command's record.
 */
export const archiveKey = (commandId: string): number => {
  const digest = hash('sha256', commandId, 'buffer');
  return digest.readUIntBE(0, 6) * 32 + ((digest[6] ?? 0) >>> 3);
};

/** What a load hands out: the archived commands of an account, read only. */
export interface ArchivedCommands {
  readonly size: number;
  /** When the command with this key was recorded (epoch ms), if it is archived. */
  recordedAt(key: number): number | undefined;
  /** The keys, oldest first. */
  keys(): IterableIterator<number>;
  /** A copy that can change on its own. */
  copy(): ArchivedCommandIndex;
}

const EMPTY = -1;
const DELETED = -2;
const MIN_CAPACITY = 16;
/** Shared by every empty index; never written (the first add allocates arrays of its own). */
const NO_ENTRIES = new Float64Array(0);
const NO_SLOTS = new Int32Array(0);

/** The smallest power of two that is at least `n` and at least MIN_CAPACITY. */
const powerOfTwo = (n: number): number => {
  let capacity = MIN_CAPACITY;
  while (capacity < n) capacity *= 2;
  return capacity;
};

/**
 * The index of archived commands: key → recorded at, in the order they were archived.
 *
 * A long-lived account's window holds tens of thousands of archived ids, read whole at
 * every load. A Map of that many entries cost 13-35 ms to build on this machine, more
 * than the rest of the load; this table is typed arrays built in one pass: the entries
 * in archive order (oldest at `head`, so the forgotten ones leave from the front) and
 * an open-addressing table of entry indexes for lookups.
 */
export class ArchivedCommandIndex implements ArchivedCommands {
  private entryKeys: Float64Array;
  private entryAt: Float64Array;
  /** Entries [head, tail) are in use; a deleted one has key NaN. */
  private head = 0;
  private tail = 0;
  private live = 0;
  /** Entry index per slot, EMPTY or DELETED; a power of two long, at most half used. */
  private slots: Int32Array;
  private usedSlots = 0;

  /** Capacity 0 shares the empty arrays: most cached accounts never archive anything, and the first add allocates. */
  private constructor(capacity: number) {
    this.entryKeys = capacity === 0 ? NO_ENTRIES : new Float64Array(capacity);
    this.entryAt = capacity === 0 ? NO_ENTRIES : new Float64Array(capacity);
    this.slots = capacity === 0 ? NO_SLOTS : new Int32Array(capacity * 2).fill(EMPTY);
  }

  static empty(): ArchivedCommandIndex {
    return new ArchivedCommandIndex(0);
  }

  /** From parallel arrays in archive order; a key given twice keeps its last place and its later time. */
  static of(keys: ArrayLike<number>, recordedAt: ArrayLike<number>): ArchivedCommandIndex {
    const pairs = new Float64Array(keys.length * 2);
    for (let i = 0; i < keys.length; i += 1) {
      pairs[2 * i] = keys[i] as number;
      pairs[2 * i + 1] = recordedAt[i] as number;
    }
    return ArchivedCommandIndex.fromPairs(pairs);
  }

  /**
   * From (key, recorded at) pairs in archive order, as a load reads them; a key given twice
   * keeps its last place and its later time. Two passes over typed arrays, no per-entry calls: this runs on
   * every cold load, before the JIT has warmed up.
   */
  static fromPairs(pairs: Float64Array): ArchivedCommandIndex {
    const count = pairs.length >>> 1;
    if (count === 0) return ArchivedCommandIndex.empty();
    const index = new ArchivedCommandIndex(powerOfTwo(count));
    const { entryKeys, entryAt, slots } = index;
    const mask = slots.length - 1;
    for (let entry = 0; entry < count; entry += 1) {
      const key = pairs[2 * entry] as number;
      if (!Number.isSafeInteger(key) || key < 0) throw new RangeError(`archive key ${key} is not a 53-bit integer`);
      entryKeys[entry] = key;
      entryAt[entry] = pairs[2 * entry + 1] as number;
      let slot = key % slots.length;
      for (;;) {
        const held = slots[slot] as number;
        if (held === EMPTY) {
          slots[slot] = entry;
          index.usedSlots += 1;
          index.live += 1;
          break;
        }
        if (entryKeys[held] === key) {
          // Archived again later: the earlier entry gives up its place, not a later time.
          entryAt[entry] = Math.max(entryAt[entry] as number, entryAt[held] as number);
          entryKeys[held] = Number.NaN;
          slots[slot] = entry;
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
    index.tail = count;
    while (index.head < index.tail && Number.isNaN(entryKeys[index.head])) index.head += 1;
    return index;
  }

  get size(): number {
    return this.live;
  }

  recordedAt(key: number): number | undefined {
    const slot = this.find(key);
    return slot < 0 ? undefined : this.entryAt[this.slots[slot] as number];
  }

  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  /**
   * Archives a key as the newest entry (moving it to the end if it was there). A key
   * already there keeps the later of the two times: two ids sharing a key are then both
   * remembered for as long as the newer needs.
   */
  add(key: number, recordedAt: number): void {
    if (!Number.isSafeInteger(key) || key < 0) throw new RangeError(`archive key ${key} is not a 53-bit integer`);
    const held = this.find(key);
    if (held >= 0) recordedAt = Math.max(recordedAt, this.removeAt(held));
    if (this.tail === this.entryKeys.length) this.resize(this.live + 1);
    if ((this.usedSlots + 1) * 2 > this.slots.length) this.rehash(this.slots.length);
    const entry = this.tail;
    this.tail += 1;
    this.entryKeys[entry] = key;
    this.entryAt[entry] = recordedAt;
    const mask = this.slots.length - 1;
    for (let slot = key % this.slots.length; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot] as number;
      if (held === EMPTY) {
        this.slots[slot] = entry;
        this.usedSlots += 1;
        break;
      }
      if (held === DELETED) {
        this.slots[slot] = entry;
        break;
      }
    }
    this.live += 1;
  }

  delete(key: number): boolean {
    const slot = this.find(key);
    if (slot < 0) return false;
    this.removeAt(slot);
    return true;
  }

  /** Forgets entries from the oldest end up to the first one recorded at or after `before` (epoch ms). */
  forgetRecordedBefore(before: number): void {
    // `head` is always a live entry (or `tail`): removals move it past deleted ones.
    while (this.head < this.tail && (this.entryAt[this.head] as number) < before) this.delete(this.entryKeys[this.head] as number);
  }

  *keys(): IterableIterator<number> {
    for (let entry = this.head; entry < this.tail; entry += 1) {
      const key = this.entryKeys[entry] as number;
      if (!Number.isNaN(key)) yield key;
    }
  }

  copy(): ArchivedCommandIndex {
    const copy = ArchivedCommandIndex.empty();
    if (this.live === 0) return copy;
    copy.entryKeys = this.entryKeys.slice();
    copy.entryAt = this.entryAt.slice();
    copy.slots = this.slots.slice();
    copy.head = this.head;
    copy.tail = this.tail;
    copy.live = this.live;
    copy.usedSlots = this.usedSlots;
    return copy;
  }

  /** Empties a slot found by `find`; returns when its entry was recorded. */
  private removeAt(slot: number): number {
    const entry = this.slots[slot] as number;
    this.slots[slot] = DELETED;
    this.entryKeys[entry] = Number.NaN;
    this.live -= 1;
    while (this.head < this.tail && Number.isNaN(this.entryKeys[this.head])) this.head += 1;
    return this.entryAt[entry] as number;
  }

  /** The slot holding the key, or -1. */
  private find(key: number): number {
    if (this.live === 0) return -1;
    const mask = this.slots.length - 1;
    for (let slot = key % this.slots.length; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot] as number;
      if (held === EMPTY) return -1;
      if (held !== DELETED && this.entryKeys[held] === key) return slot;
    }
  }

  /** Moves the live entries to the front of arrays with room for `needed` (at least twice the live ones). */
  private resize(needed: number): void {
    const capacity = powerOfTwo(Math.max(needed, this.live * 2));
    const keys = new Float64Array(capacity);
    const at = new Float64Array(capacity);
    let next = 0;
    for (let entry = this.head; entry < this.tail; entry += 1) {
      const key = this.entryKeys[entry] as number;
      if (Number.isNaN(key)) continue;
      keys[next] = key;
      at[next] = this.entryAt[entry] as number;
      next += 1;
    }
    this.entryKeys = keys;
    this.entryAt = at;
    this.head = 0;
    this.tail = next;
    this.rehash(capacity * 2);
  }

  /** Rebuilds the slots without deleted marks, at least `minimum` long and at most half used. */
  private rehash(minimum: number): void {
    const length = Math.max(minimum, powerOfTwo(this.live * 4));
    const slots = new Int32Array(length).fill(EMPTY);
    const mask = length - 1;
    for (let entry = this.head; entry < this.tail; entry += 1) {
      const key = this.entryKeys[entry] as number;
      if (Number.isNaN(key)) continue;
      let slot = key % length;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = entry;
    }
    this.slots = slots;
    this.usedSlots = this.live;
  }
}
