import type { AdjustCredits, GrantCredits, RecordPurchase, UseCredits } from '../../../src/domain/account.commands';
import type {
  CreditsAdjusted,
  CreditsGranted,
  CreditsPurchased,
  CreditsUsed,
  LotDraw,
} from '../../../src/domain/account.events';
import { appliedRate, type AppliedRate, type RateCard } from '../../../src/domain/rate-card';

/** Fixed data for the domain tests: one account, fixed instants, the API's rate card. */
export const ACCOUNT_ID = 'acc-1';
export const RETENTION_MS = 24 * 60 * 60 * 1000;

export const JAN_1 = '2025-01-01T00:00:00.000Z';
export const MAR_1 = '2025-03-01T09:00:00.000Z';
export const MAR_2 = '2025-03-02T09:00:00.000Z';
export const MAR_3 = '2025-03-03T09:00:00.000Z';
export const APR_1 = '2025-04-01T00:00:00.000Z';
export const JUN_1 = '2025-06-01T00:00:00.000Z';

/** An instant `ms` after `iso`; pure arithmetic on fixed data, never the clock. */
export const plusMs = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();

const line = (service: string, unit: string, credits: number, per: number) => ({
  service,
  unit,
  priceMillicredits: credits * 1000,
  per,
  description: `${service} per ${per} ${unit}`,
});

/** The rate card of API.md ("Credit Usage Costs"). */
export const RATE_CARD: RateCard = {
  version: '2025-01',
  effectiveFrom: JAN_1,
  services: [
    line('voice_call', 'second', 1, 60),
    line('sms', 'message', 1, 1),
    line('whatsapp', 'message', 1, 1),
    line('ai_response', 'response', 2, 1),
    line('gpt-4', 'token', 60, 1000),
    line('gpt-3.5', 'token', 2, 1000),
    line('gemini-pro', 'token', 1, 1000),
    line('claude', 'token', 2, 1000),
    line('document_upload', 'document', 5, 1),
    line('bundle_creation', 'bundle', 50, 1),
    line('phone_number', 'number', 100, 1),
  ],
};

export const SERVICES: readonly string[] = RATE_CARD.services.map((rate) => rate.service);

export const rateOf = (service: string): AppliedRate => {
  const rate = appliedRate(RATE_CARD, service);
  if (rate === undefined) throw new Error(`fixture: no rate for ${service}`);
  return rate;
};

const envelope = (commandId: string, now: string, requestHash?: string) => ({
  accountId: ACCOUNT_ID,
  commandId,
  requestHash: requestHash ?? `hash-${commandId}`,
  now,
});

const factsOf = (commandId: string, occurredAt: string, requestHash?: string) => ({
  accountId: ACCOUNT_ID,
  commandId,
  requestHash: requestHash ?? `hash-${commandId}`,
  occurredAt,
});

// ---- commands -------------------------------------------------------------------------

export const useCredits = (
  commandId: string,
  now: string,
  service: string,
  quantity: number,
  overrides: Partial<UseCredits> = {},
): UseCredits => ({
  type: 'UseCredits',
  ...envelope(commandId, now),
  usageId: `usage-${commandId}`,
  service,
  quantity,
  rate: overrides.rate === undefined ? rateOf(service) : overrides.rate,
  metadata: {},
  ...overrides,
});

export const grantCredits = (
  commandId: string,
  now: string,
  millicredits: number,
  expiresAt: string | null,
  overrides: Partial<GrantCredits> = {},
): GrantCredits => ({
  type: 'GrantCredits',
  ...envelope(commandId, now),
  grantId: `lot-${commandId}`,
  creditsMillicredits: millicredits,
  reason: 'promotion',
  expiresAt,
  grantedBy: 'admin-1',
  ...overrides,
});

export const adjustCredits = (
  commandId: string,
  now: string,
  millicredits: number,
  overrides: Partial<AdjustCredits> = {},
): AdjustCredits => ({
  type: 'AdjustCredits',
  ...envelope(commandId, now),
  adjustmentId: `lot-${commandId}`,
  creditsMillicredits: millicredits,
  reason: 'correction',
  adjustedBy: 'admin-1',
  ...overrides,
});

export const recordPurchase = (
  commandId: string,
  now: string,
  millicredits: number,
  overrides: Partial<RecordPurchase> = {},
): RecordPurchase => ({
  type: 'RecordPurchase',
  ...envelope(commandId, now),
  purchaseId: `lot-${commandId}`,
  packageId: 'starter',
  expected: { creditsMillicredits: millicredits, priceCents: 1000, currency: 'usd' },
  paidCents: 1000,
  paidCurrency: 'usd',
  paymentReference: `cs_${commandId}`,
  paymentIntentId: `pi_${commandId}`,
  ...overrides,
});

// ---- events (the facts the commands above produce) ---------------------------------------

export const purchased = (commandId: string, occurredAt: string, millicredits: number): CreditsPurchased => ({
  type: 'CreditsPurchased',
  schemaVersion: 1,
  data: {
    ...factsOf(commandId, occurredAt),
    lotId: `lot-${commandId}`,
    packageId: 'starter',
    creditsMillicredits: millicredits,
    priceCents: 1000,
    currency: 'usd',
    paymentReference: `cs_${commandId}`,
    paymentIntentId: `pi_${commandId}`,
    debtSettledMillicredits: 0,
  },
});

export const granted = (
  commandId: string,
  occurredAt: string,
  millicredits: number,
  expiresAt: string | null,
): CreditsGranted => ({
  type: 'CreditsGranted',
  schemaVersion: 1,
  data: {
    ...factsOf(commandId, occurredAt),
    lotId: `lot-${commandId}`,
    creditsMillicredits: millicredits,
    reason: 'promotion',
    expiresAt,
    grantedBy: 'admin-1',
  },
});

export const adjusted = (
  commandId: string,
  occurredAt: string,
  millicredits: number,
  draws: readonly LotDraw[] = [],
): CreditsAdjusted => ({
  type: 'CreditsAdjusted',
  schemaVersion: 1,
  data: {
    ...factsOf(commandId, occurredAt),
    adjustmentId: `lot-${commandId}`,
    creditsMillicredits: millicredits,
    reason: 'correction',
    adjustedBy: 'admin-1',
    draws,
  },
});

export const used = (
  commandId: string,
  occurredAt: string,
  service: string,
  quantity: number,
  chargedMillicredits: number,
  draws: readonly LotDraw[],
  rate: AppliedRate = rateOf(service),
): CreditsUsed => {
  return {
    type: 'CreditsUsed',
    schemaVersion: 1,
    data: {
      ...factsOf(commandId, occurredAt),
      usageId: `usage-${commandId}`,
      service,
      unit: rate.unit,
      quantity,
      rateCardVersion: rate.rateCardVersion,
      unitPriceMillicredits: rate.unitPriceMillicredits,
      per: rate.per,
      chargedMillicredits,
      draws,
      metadata: {},
    },
  };
};

export const draw = (commandId: string, millicredits: number): LotDraw => ({ lotId: `lot-${commandId}`, millicredits });
