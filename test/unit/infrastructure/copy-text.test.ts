import { copyText } from '../../../src/infrastructure/postgres/copy-text';

describe('copyText (COPY text format)', () => {
  it('separates columns by tabs, ends each row with a newline, writes NULL as \\N', () => {
    expect(copyText([['acme', 3, null], ['globex', -1500, 'sms']])).toBe('acme\t3\t\\N\nglobex\t-1500\tsms\n');
  });

  it('escapes the backslash and the characters that would end a field or a row', () => {
    expect(copyText([['tab\there', 'line\nbreak', 'carriage\rreturn', 'back\\slash']])).toBe('tab\\there\tline\\nbreak\tcarriage\\rreturn\tback\\\\slash\n');
  });

  it('keeps the text "\\N" apart from NULL, and leaves other text as it is', () => {
    expect(copyText([['\\N', null, 'ünïcödé "quoted", comma; 💳']])).toBe('\\\\N\t\\N\tünïcödé "quoted", comma; 💳\n');
  });

  it('refuses a number COPY would not read back', () => {
    expect(() => copyText([[Number.NaN]])).toThrow('cannot COPY NaN');
    expect(() => copyText([[Number.POSITIVE_INFINITY]])).toThrow('cannot COPY Infinity');
  });

  it('writes nothing for no rows', () => {
    expect(copyText([])).toBe('');
  });
});
