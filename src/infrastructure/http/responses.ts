import type { AccountBalanceView } from '../../application/get-balance/get-balance.query';
import type { AccountEvent } from '../../domain/account.events';
import type { CommandRecord } from '../../domain/account.state';
import { availableMillicredits } from '../../domain/account.state';
import type { CreditPackage } from '../../domain/credit-package';
import { formatCredits } from '../../domain/money';
import type { RateCard } from '../../domain/rate-card';

const DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS = 10_000;
const EXPIRY_HORIZON_MS = 7 * 24 * 60 * 60 * 1000;

/** The first event of a recorded command, which must be of the operation's type. */
const eventOf = <Type extends AccountEvent['type']>(record: CommandRecord, type: Type): Extract<AccountEvent, { type: Type }> => {
  if (record.event.type !== type) throw new Error(`command ${record.commandId} recorded ${record.event.type}, not ${type}`);
  return record.event as Extract<AccountEvent, { type: Type }>;
};

const after = (record: CommandRecord) => ({
  balance: formatCredits(record.balanceAfterMillicredits),
  available: formatCredits(record.availableAfterMillicredits),
  position: record.position,
});

export const useCreditsResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'CreditsUsed');
  return {
    usageId: data.usageId,
    service: data.service,
    quantity: data.quantity,
    charged: formatCredits(data.chargedMillicredits),
    ...after(record),
  };
};

export const grantResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'CreditsGranted');
  return {
    grantId: data.lotId,
    accountId: data.accountId,
    credits: formatCredits(data.creditsMillicredits),
    reason: data.reason,
    expiresAt: data.expiresAt,
    grantedBy: data.grantedBy,
    ...after(record),
  };
};

export const adjustmentResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'CreditsAdjusted');
  return {
    adjustmentId: data.adjustmentId,
    accountId: data.accountId,
    credits: formatCredits(data.creditsMillicredits),
    reason: data.reason,
    adjustedBy: data.adjustedBy,
    ...after(record),
  };
};

export const balanceResponse = ({ accountId, state, position, asOf }: AccountBalanceView) => {
  const available = availableMillicredits(state);
  const now = Date.parse(asOf);
  const expiringSoon = state.lots
    .filter((lot) => lot.expiresAt !== null && Date.parse(lot.expiresAt) > now && Date.parse(lot.expiresAt) <= now + EXPIRY_HORIZON_MS)
    .reduce((sum, lot) => sum + lot.remainingMillicredits, 0);
  return {
    accountId,
    balance: formatCredits(state.balanceMillicredits),
    available: formatCredits(available),
    reserved: formatCredits(state.reservedMillicredits),
    totalPurchased: formatCredits(state.totalPurchasedMillicredits),
    totalGranted: formatCredits(state.totalGrantedMillicredits),
    totalUsed: formatCredits(state.totalUsedMillicredits),
    lowBalanceThreshold: formatCredits(DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS),
    lowBalance: available < DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS,
    expiringWithin7Days: formatCredits(expiringSoon),
    // The forecast needs the spend history of the read side (the credit-lifecycle issue).
    burnRatePerHour: formatCredits(0),
    estimatedDepletionAt: null,
    position,
  };
};

export const pricingResponse = (card: RateCard) => ({
  version: card.version,
  effectiveFrom: card.effectiveFrom,
  services: card.services.map((rate) => ({
    service: rate.service,
    unit: rate.unit,
    credits: formatCredits(rate.priceMillicredits),
    per: rate.per,
    description: rate.description,
  })),
});

export const packagesResponse = (packages: readonly CreditPackage[]) =>
  packages.map((pkg) => ({
    id: pkg.id,
    name: pkg.name,
    credits: formatCredits(pkg.creditsMillicredits),
    priceCents: pkg.priceCents,
    currency: pkg.currency,
  }));
