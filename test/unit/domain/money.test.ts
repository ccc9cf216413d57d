import fc from 'fast-check';
import { InvariantViolation } from '../../../src/domain/assert';
import { addMillicredits, chargeMillicredits, formatCredits, parseCredits, plus } from '../../../src/domain/money';

const MAX = Number.MAX_SAFE_INTEGER;
const BIG_MAX = BigInt(MAX);

/** Small values most of the time, the edges of the safe range some of the time. */
const amount = (min: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min, max: 100_000 }), fc.integer({ min, max: MAX }), fc.constantFrom(min, MAX, MAX - 1));

describe('formatCredits', () => {
  it.each([
    [0, '0.000'],
    [1, '0.001'],
    [50, '0.050'],
    [999, '0.999'],
    [1000, '1.000'],
    [12_345, '12.345'],
    [-1, '-0.001'],
    [-9000, '-9.000'],
    [-12_345, '-12.345'],
    [MAX, '9007199254740.991'],
    [-MAX, '-9007199254740.991'],
  ])('formats %d as "%s"', (millicredits, text) => {
    expect(formatCredits(millicredits)).toBe(text);
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX + 1])('crashes on %d, which is not millicredits', (value) => {
    expect(() => formatCredits(value)).toThrow(InvariantViolation);
  });

  it('always writes exactly three decimals, the sign only for negatives', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (millicredits) => {
        const text = formatCredits(millicredits);
        expect(text).toMatch(/^-?(0|[1-9]\d*)\.\d{3}$/);
        expect(text.startsWith('-')).toBe(millicredits < 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with exact BigInt division', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (millicredits) => {
        const magnitude = BigInt(Math.abs(millicredits));
        const expected = `${millicredits < 0 ? '-' : ''}${magnitude / 1000n}.${String(magnitude % 1000n).padStart(3, '0')}`;
        expect(formatCredits(millicredits)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseCredits', () => {
  it.each([
    ['0', 0],
    ['0.000', 0],
    ['12', 12_000],
    ['12.3', 12_300],
    ['12.34', 12_340],
    ['12.345', 12_345],
    ['0.001', 1],
    ['007.5', 7500],
    ['-9.000', -9000],
    ['-9', -9000],
    ['-0.001', -1],
    ['9007199254740.991', MAX],
    ['-9007199254740.991', -MAX],
  ])('parses "%s" as %d millicredits', (text, millicredits) => {
    expect(parseCredits(text)).toBe(millicredits);
  });

  it('parses "-0.000" as zero', () => {
    expect(parseCredits('-0.000') === 0).toBe(true);
  });

  it.each([
    '',
    ' ',
    'abc',
    '12.3456',
    '0.0001',
    '1.',
    '.5',
    '-.5',
    '+1',
    '--1',
    ' 1',
    '1 ',
    '1\n',
    '1e3',
    '1,5',
    '1.2.3',
    '12.3a',
    '0x10',
    'Infinity',
    'NaN',
    '-',
    '١٢',
    '1_000',
    '9007199254740.992',
    '1000000000000000',
  ])('rejects "%s"', (text) => {
    expect(parseCredits(text)).toBeNull();
  });

  it('rejects anything with more than three decimals', () => {
    fc.assert(
      fc.property(fc.nat(), fc.stringMatching(/^\d{4,8}$/), (whole, fraction) => {
        expect(parseCredits(`${whole}.${fraction}`)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every safe amount through its text', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (millicredits) => {
        expect(parseCredits(formatCredits(millicredits))).toBe(millicredits);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads every well-formed text as exact integer arithmetic would', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.stringMatching(/^\d{1,15}$/),
        fc.option(fc.stringMatching(/^\d{1,3}$/), { nil: undefined }),
        (negative, whole, fraction) => {
          const text = `${negative ? '-' : ''}${whole}${fraction === undefined ? '' : `.${fraction}`}`;
          const magnitude = BigInt(whole) * 1000n + BigInt((fraction ?? '').padEnd(3, '0'));
          const parsed = parseCredits(text);
          if (magnitude > BIG_MAX) {
            expect(parsed).toBeNull();
          } else {
            expect(parsed === null ? null : BigInt(parsed)).toBe(negative ? -magnitude : magnitude);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('chargeMillicredits', () => {
  it.each([
    [1500, 60_000, 1000, 90_000],
    [1, 60_000, 1000, 60],
    [61, 1000, 60, 1017],
    [60, 1000, 60, 1000],
    [1, 1, 2, 1],
    [2, 1, 2, 1],
    [3, 1, 2, 2],
    [5, 0, 1, 0],
    [MAX, 1, 1, MAX],
    [MAX, MAX, MAX, MAX],
    [MAX, 3, 3, MAX],
    [MAX - 2, 3, 1, null],
    [MAX, 2, 1, null],
    [MAX, 60_000, 1000, null],
  ])('ceil(%d × %d / %d) is %p', (quantity, price, per, charge) => {
    expect(chargeMillicredits(quantity, price, per)).toBe(charge);
  });

  it('is the exact ceiling of quantity × price / per, or null past MAX_SAFE_INTEGER', () => {
    fc.assert(
      fc.property(amount(1), amount(0), amount(1), (quantity, price, per) => {
        const charge = chargeMillicredits(quantity, price, per);
        const product = BigInt(quantity) * BigInt(price);
        const ceiling = (product + BigInt(per) - 1n) / BigInt(per);
        if (ceiling > BIG_MAX) {
          expect(charge).toBeNull();
          return;
        }
        expect(charge).not.toBeNull();
        const exact = BigInt(charge as number);
        // The definition of the ceiling, checked independently of the formula above.
        expect(exact * BigInt(per) >= product).toBe(true);
        expect((exact - 1n) * BigInt(per) < product).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['a zero quantity', 0, 1000, 1],
    ['a negative quantity', -1, 1000, 1],
    ['a fractional quantity', 1.5, 1000, 1],
    ['an unsafe quantity', MAX + 1, 1000, 1],
    ['a negative price', 1, -1, 1],
    ['a fractional price', 1, 0.5, 1],
    ['a zero per', 1, 1000, 0],
    ['a fractional per', 1, 1000, 0.5],
  ])('crashes on %s', (_, quantity, price, per) => {
    expect(() => chargeMillicredits(quantity, price, per)).toThrow(InvariantViolation);
  });
});

describe('addMillicredits and plus', () => {
  it('adds exactly, or answers null past the safe range', () => {
    expect(addMillicredits(MAX - 1, 1)).toBe(MAX);
    expect(addMillicredits(MAX, 1)).toBeNull();
    expect(addMillicredits(-MAX, -1)).toBeNull();
    expect(addMillicredits(-MAX, MAX)).toBe(0);
  });

  it('plus crashes where addMillicredits answers null', () => {
    expect(() => plus(MAX, 1)).toThrow(InvariantViolation);
    expect(() => plus(0.5, 1)).toThrow(InvariantViolation);
  });
});
