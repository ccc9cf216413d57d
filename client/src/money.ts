import { LedgerClientError } from './errors';
import type { Credits, ServiceRate } from './types';

const CREDITS_PATTERN = /^(-?)(\d+)(?:\.(\d{1,3}))?$/;

/** "12.345" → 12345n millicredits, exactly (no floating point). */
export const parseMillicredits = (credits: Credits): bigint => {
  const match = CREDITS_PATTERN.exec(credits);
  if (match === null) throw new LedgerClientError(`not a credit amount: ${JSON.stringify(credits)}`);
  const [, sign = '', whole = '0', fraction = ''] = match;
  const value = BigInt(whole) * 1000n + BigInt(fraction.padEnd(3, '0'));
  return sign === '-' ? -value : value;
};

/** 12345n → "12.345". */
export const formatMillicredits = (millicredits: bigint): Credits => {
  const negative = millicredits < 0n;
  const magnitude = negative ? -millicredits : millicredits;
  return `${negative ? '-' : ''}${magnitude / 1000n}.${(magnitude % 1000n).toString().padStart(3, '0')}`;
};

/**
 * What the service charges for `quantity` units at a rate: ceil(quantity × price / per)
 * millicredits, the same integer rule the ledger applies.
 */
export const chargeMillicredits = (rate: ServiceRate, quantity: number): bigint => {
  if (!Number.isSafeInteger(quantity) || quantity <= 0) {
    throw new LedgerClientError(`quantity must be a positive integer, got ${quantity}`);
  }
  if (!Number.isSafeInteger(rate.per) || rate.per <= 0) throw new LedgerClientError(`rate of ${rate.service} has per=${rate.per}`);
  const numerator = BigInt(quantity) * parseMillicredits(rate.credits);
  const per = BigInt(rate.per);
  return (numerator + per - 1n) / per;
};
