import { assert } from './assert';

/** Every amount of credits is an integer count of millicredits: 1 credit = 1000. */
export const MILLICREDITS_PER_CREDIT = 1000;

const CREDITS_PATTERN = /^(-?)(\d{1,15})(?:\.(\d{1,3}))?$/;

export const isMillicredits = (value: number): boolean => Number.isSafeInteger(value);

export const assertMillicredits = (value: number, name: string): void =>
  assert(Number.isSafeInteger(value), `${name} must be a safe integer of millicredits, got ${value}`);

/** Sum, or null when it leaves the safe-integer range (an expected refusal, not a crash). */
export const addMillicredits = (a: number, b: number): number | null => {
  assertMillicredits(a, 'a');
  assertMillicredits(b, 'b');
  const sum = a + b;
  return Number.isSafeInteger(sum) ? sum : null;
};

/** Sum of two amounts that an invariant already bounds: crashes on overflow. */
export const plus = (a: number, b: number): number => {
  const sum = addMillicredits(a, b);
  assert(sum !== null, `millicredit overflow: ${a} + ${b}`);
  return sum;
};

export const minus = (a: number, b: number): number => plus(a, -b);

/**
 * a − b clamped to the safe-integer range. Only for derived figures compared against
 * limits (available with huge holds on an account in debt): the ledger's own totals
 * never saturate, they refuse or crash instead.
 */
export const saturatingMinus = (a: number, b: number): number => {
  assertMillicredits(a, 'a');
  assertMillicredits(b, 'b');
  const difference = BigInt(a) - BigInt(b);
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(difference > limit ? limit : difference < -limit ? -limit : difference);
};

/**
 * ceil(quantity × priceMillicredits / per), in exact integer arithmetic.
 * Null when the result does not fit a safe integer.
 */
export const chargeMillicredits = (quantity: number, priceMillicredits: number, per: number): number | null => {
  assert(Number.isSafeInteger(quantity) && quantity > 0, `quantity must be a positive safe integer, got ${quantity}`);
  assert(Number.isSafeInteger(priceMillicredits) && priceMillicredits >= 0, `bad price ${priceMillicredits}`);
  assert(Number.isSafeInteger(per) && per > 0, `per must be a positive safe integer, got ${per}`);
  const numerator = BigInt(quantity) * BigInt(priceMillicredits);
  const divisor = BigInt(per);
  const charge = (numerator + divisor - 1n) / divisor;
  return charge <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(charge) : null;
};

/** "12.345" for 12345; always exactly three decimals. */
export const formatCredits = (millicredits: number): string => {
  assertMillicredits(millicredits, 'millicredits');
  const sign = millicredits < 0 ? '-' : '';
  const magnitude = Math.abs(millicredits);
  const whole = Math.trunc(magnitude / MILLICREDITS_PER_CREDIT);
  const fraction = magnitude % MILLICREDITS_PER_CREDIT;
  return `${sign}${whole}.${String(fraction).padStart(3, '0')}`;
};

/** Parses "12", "12.3" or "12.345" (at most three decimals); null when malformed. */
export const parseCredits = (text: string): number | null => {
  const match = CREDITS_PATTERN.exec(text);
  if (match === null) return null;
  const [, sign, whole = '0', fraction = ''] = match;
  const magnitude = Number(whole) * MILLICREDITS_PER_CREDIT + Number(fraction.padEnd(3, '0'));
  if (!Number.isSafeInteger(magnitude)) return null;
  return sign === '-' && magnitude !== 0 ? -magnitude : magnitude;
};

/** "10.00" for 1000 minor units (cents). */
export const formatCents = (cents: number): string => {
  assert(Number.isSafeInteger(cents), `cents must be a safe integer, got ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const magnitude = Math.abs(cents);
  return `${sign}${Math.trunc(magnitude / 100)}.${String(magnitude % 100).padStart(2, '0')}`;
};
