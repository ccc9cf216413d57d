/** A value COPY's text format carries: text, a number, or NULL. */
export type CopyValue = string | number | null;

const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const field = (value: CopyValue): string => {
  if (value === null) return '\\N';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot COPY ${value}`);
    return String(value);
  }
  return SPECIAL.test(value) ? value.replace(SPECIALS, (special) => ESCAPES[special] ?? special) : value;
};

/**
 * Rows in COPY's text format (tab between columns, one line per row, \N for NULL): the
 * backslash and the characters that would end a field or a line are escaped, so any text
 * arrives as it was.
 */
export const copyText = (rows: readonly (readonly CopyValue[])[]): string => {
  let text = '';
  for (const row of rows) {
    for (let column = 0; column < row.length; column += 1) {
      if (column > 0) text += '\t';
      text += field(row[column] ?? null);
    }
    text += '\n';
  }
  return text;
};
