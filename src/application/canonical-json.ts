/** Keys seen so far, quoted: events and requests reuse a few dozen names. */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 10_000;

const quotedKey = (key: string): string => {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(key, quoted);
  }
  return quoted;
};

/** Past this many keys an object's are sorted by Array.prototype.sort. */
const MAX_INSERTION_SORTED_KEYS = 32;

/**
 * The object's own enumerable keys in UTF-16 code unit order (the order of `<` on strings,
 * and of Array.prototype.sort without a comparator). A few dozen keys are sorted by
 * insertion in the array Object.keys made: V8's sort allocates its working state on every
 * call, which for a usage event and its request came to 4.5 of the 10 KB they allocated
 * (bench/canonical-json.mjs).
 */
const sortedKeys = (record: Record<string, unknown>): string[] => {
  const keys = Object.keys(record);
  if (keys.length > MAX_INSERTION_SORTED_KEYS) return keys.sort();
  for (let index = 1; index < keys.length; index += 1) {
    const key = keys[index] as string;
    let at = index - 1;
    for (; at >= 0 && (keys[at] as string) > key; at -= 1) keys[at + 1] = keys[at] as string;
    keys[at + 1] = key;
  }
  return keys;
};

/**
 * JSON with object keys sorted at every level, so equal values always give the same
 * text: what the event hash chain and request fingerprints hash. Keys holding
 * `undefined` are left out and `undefined` in an array is `null`, as JSON.stringify
 * does. Written as plain loops with quoted keys kept: it runs on every event and every
 * write request (about 3 µs for a usage event and its request, bench/canonical-json.mjs).
 */
export const canonicalJson = (value: unknown): string => {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // What JSON.stringify gives: the shortest round-trip form, and null for NaN and ±Infinity.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new Error(`value of type ${typeof value} has no JSON form`);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) {
      const item: unknown = value[index];
      if (index > 0) text += ',';
      text += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  let text = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    if (!first) text += ',';
    first = false;
    text += `${quotedKey(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
};
