import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CreditPackage } from '../../domain/credit-package';
import { parseCredits } from '../../domain/money';
import type { RateCard } from '../../domain/rate-card';

/** The folder holding rate-cards.json and packages.json: `config/` at the project root. */
export const DEFAULT_CATALOG_DIR = join(__dirname, '..', '..', '..', 'config');

const positiveCredits = z
  .string()
  .transform((text, context) => {
    const millicredits = parseCredits(text);
    if (millicredits === null || millicredits <= 0) {
      context.addIssue({ code: 'custom', message: 'must be a positive amount with at most 3 decimals' });
      return z.NEVER;
    }
    return millicredits;
  });
const nonNegativeCredits = positiveCredits.or(z.literal('0.000').transform(() => 0));

const rateCardsSchema = z
  .array(
    z.strictObject({
      version: z.string().min(1),
      effectiveFrom: z.iso.datetime(),
      services: z
        .array(
          z.strictObject({
            service: z.string().min(1),
            unit: z.string().min(1),
            credits: nonNegativeCredits,
            per: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
            description: z.string(),
          }),
        )
        .min(1),
    }),
  )
  .min(1)
  .refine((cards) => new Set(cards.map((card) => card.version)).size === cards.length, 'rate card versions must be unique');

const packagesSchema = z
  .array(
    z.strictObject({
      id: z.string().regex(/^[a-z0-9_-]{1,64}$/),
      name: z.string().min(1),
      credits: positiveCredits,
      priceCents: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
      currency: z.string().regex(/^[a-z]{3}$/),
    }),
  )
  .min(1);

export const loadRateCards = (directory: string): readonly RateCard[] =>
  rateCardsSchema.parse(readJson(join(directory, 'rate-cards.json'))).map((card) => ({
    version: card.version,
    effectiveFrom: card.effectiveFrom,
    services: card.services.map(({ credits, ...rest }) => ({ ...rest, priceMillicredits: credits })),
  }));

export const loadPackages = (directory: string): readonly CreditPackage[] =>
  packagesSchema
    .parse(readJson(join(directory, 'packages.json')))
    .map(({ credits, ...rest }) => ({ ...rest, creditsMillicredits: credits }));

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
