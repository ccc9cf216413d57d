import { z } from 'zod';
import { parseCredits } from '../../domain/money';
import { ACCOUNT_ID_PATTERN } from '../auth/principal';
import { validationFailed } from './api-error';

/** Parses with a schema or throws 400 validation_failed listing every bad field. */
export const parseOrThrow = <Schema extends z.ZodType>(schema: Schema, input: unknown, where: string): z.output<Schema> => {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationFailed(
    result.error.issues.map((issue) => ({
      field: [where, ...issue.path.map(String)].join('.'),
      problem: issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
    })),
  );
};

/** Text Postgres can store as JSON: no NUL character, no lone UTF-16 surrogate. */
export const textSchema = () =>
  z.string().refine((text) => !text.includes('\u0000') && text.isWellFormed(), 'must not contain NUL or unpaired surrogate characters');

export const accountIdSchema = z.string().regex(ACCOUNT_ID_PATTERN, 'must be 1-128 characters: letters, digits, . _ : @ | -');

/** A positive whole number of units that JavaScript holds exactly. */
export const quantitySchema = z
  .number({ error: 'must be a positive integer' })
  .int('must be a positive integer')
  .positive('must be a positive integer')
  .max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1');

/** Credit amounts travel as decimal strings with at most three decimals. */
const SIGN_RULES = {
  positive: { holds: (value: number) => value > 0, word: 'positive' },
  nonzero: { holds: (value: number) => value !== 0, word: 'non-zero' },
  nonNegative: { holds: (value: number) => value >= 0, word: 'non-negative' },
} as const;

export const creditsSchema = (sign: keyof typeof SIGN_RULES) =>
  z.string({ error: 'must be a decimal string such as "12.345"' }).transform((text, context) => {
    const millicredits = parseCredits(text);
    if (millicredits === null || !SIGN_RULES[sign].holds(millicredits)) {
      context.addIssue({
        code: 'custom',
        message: `must be a ${SIGN_RULES[sign].word} decimal string with at most 3 decimals, such as "12.345"`,
      });
      return z.NEVER;
    }
    return millicredits;
  });

export const metadataSchema = z
  .record(
    textSchema().min(1).max(64),
    z.union([textSchema().max(512), z.number().refine(Number.isFinite), z.boolean()]),
  )
  .refine((value) => Object.keys(value).length <= 32, 'at most 32 keys');

export const reasonSchema = textSchema().trim().min(1, 'is required').max(500);

/** `Idempotency-Key`: 1–255 printable ASCII characters. */
export const idempotencyKeySchema = z.string().regex(/^[\x20-\x7E]{1,255}$/, 'must be 1-255 printable ASCII characters');

/** Every GET accepts minPosition (read-your-writes). */
export const minPositionSchema = z
  .string()
  .regex(/^\d{1,16}$/, 'must be a non-negative integer position')
  .transform(Number)
  .refine(Number.isSafeInteger, 'must be a non-negative integer position')
  .optional();

/** An instant with an offset, in years 1970–9999 (what the ledger can print back as ISO-8601). */
export const instantSchema = z.iso
  .datetime({ offset: true })
  .refine((value) => /^(19[7-9]\d|[2-9]\d{3})-/.test(value), 'must be between 1970 and 9999')
  .transform((value) => new Date(value).toISOString());

/** A UTC day, given as YYYY-MM-DD or as an ISO date-time (its UTC day is taken). */
export const daySchema = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .refine((value) => /^(19[7-9]\d|[2-9]\d{3})-/.test(value), 'must be between 1970 and 9999')
  .transform((value) => new Date(value).toISOString().slice(0, 10));
