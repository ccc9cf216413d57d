/**
 * JSON with object keys sorted at every level, so equal values always give the same
 * text: what the event hash chain and request fingerprints hash. Keys holding
 * `undefined` are left out and `undefined` in an array is `null`, as JSON.stringify
 * does. Written as plain loops: it runs on every event and every write request.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new Error(`value of type ${typeof value} has no JSON form`);
    return text;
  }
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
    text += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
};
