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

/**
 * JSON with object keys sorted at every level, so equal values always give the same
 * text: what the event hash chain and request fingerprints hash. Keys holding
 * `undefined` are left out and `undefined` in an array is `null`, as JSON.stringify
 * does. Written as plain loops with quoted keys kept: it runs on every event and every
 * write request (about 4 µs for a usage event, against 5.7 µs with entries/sort/map/join).
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
  // Default sort order is UTF-16 code unit order, the same as comparing with < and >.
  const keys = Object.keys(record).sort();
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
