import type { BalanceForecast } from '../../application/get-balance/get-balance.query';
import type { TransactionPage } from '../../application/get-transactions/get-transactions.query';
import type { OpenReservations } from '../../application/reservations/list-open-reservations';
import type { BalanceView, TransactionView, UsageAnalytics, UsageTotal } from '../../application/read-models.port';
import { lapsedMillicredits, type CommandRecord } from '../../domain/account.state';
import type { CreditPackage } from '../../domain/credit-package';
import type { EventSummary } from '../../domain/event-summary';
import { formatCredits } from '../../domain/money';
import type { RateCard } from '../../domain/rate-card';

const EXPIRY_HORIZON_MS = 7 * 24 * 60 * 60 * 1000;

/** The summary of a recorded command's first event, which must be of the operation's type. */
const eventOf = <Type extends EventSummary['type']>(record: CommandRecord, type: Type): Extract<EventSummary, { type: Type }> => {
  if (record.event.type !== type) throw new Error(`command ${record.commandId} recorded ${record.event.type}, not ${type}`);
  return record.event as Extract<EventSummary, { type: Type }>;
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

const HOUR_MS = 60 * 60 * 1000;

/** When `available` reaches zero at the recent burn rate; null when nothing is being spent or nothing is left. */
export const depletionAt = (availableMillicredits: number, burnPerHourMillicredits: number, asOf: string): string | null => {
  if (burnPerHourMillicredits <= 0 || availableMillicredits <= 0) return null;
  const msLeft = (BigInt(availableMillicredits) * BigInt(HOUR_MS)) / BigInt(burnPerHourMillicredits);
  const at = BigInt(Date.parse(asOf)) + msLeft;
  // Beyond what a Date can hold (about 275,000 years), say so by not guessing.
  return at > 8_640_000_000_000_000n ? null : new Date(Number(at)).toISOString();
};

export const balanceResponse = (view: BalanceView & BalanceForecast) => {
  const balance = view.balanceMillicredits - lapsedMillicredits(view.lots, view.asOf);
  const available = balance - view.reservedMillicredits;
  const now = Date.parse(view.asOf);
  const expiringSoon = view.lots
    .filter((lot) => lot.expiresAt !== null && Date.parse(lot.expiresAt) > now && Date.parse(lot.expiresAt) <= now + EXPIRY_HORIZON_MS)
    .reduce((sum, lot) => sum + lot.remainingMillicredits, 0);
  return {
    accountId: view.accountId,
    balance: formatCredits(balance),
    available: formatCredits(available),
    reserved: formatCredits(view.reservedMillicredits),
    totalPurchased: formatCredits(view.totalPurchasedMillicredits),
    totalGranted: formatCredits(view.totalGrantedMillicredits),
    totalUsed: formatCredits(view.totalUsedMillicredits),
    lowBalanceThreshold: formatCredits(view.lowBalanceThresholdMillicredits),
    lowBalance: available < view.lowBalanceThresholdMillicredits,
    expiringWithin7Days: formatCredits(expiringSoon),
    burnRatePerHour: formatCredits(view.burnRatePerHourMillicredits),
    estimatedDepletionAt: depletionAt(available, view.burnRatePerHourMillicredits, view.asOf),
    position: view.position,
  };
};

const CURSOR_PREFIX = 'v1.';

/** Page cursors are opaque to clients: the entry sequence they continue below. */
export const encodeCursor = (sequence: number): string => Buffer.from(`${CURSOR_PREFIX}${sequence}`).toString('base64url');

export const decodeCursor = (cursor: string): number | null => {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!text.startsWith(CURSOR_PREFIX)) return null;
  const sequence = Number(text.slice(CURSOR_PREFIX.length));
  return Number.isSafeInteger(sequence) && sequence >= 0 && encodeCursor(sequence) === cursor ? sequence : null;
};

const transactionItem = (item: TransactionView) => ({
  id: item.id,
  type: item.type,
  credits: formatCredits(item.creditsMillicredits),
  balanceAfter: formatCredits(item.balanceAfterMillicredits),
  description: item.description,
  occurredAt: item.occurredAt,
  position: item.position,
  ...(item.service === null ? {} : { service: item.service }),
  ...(item.quantity === null ? {} : { quantity: item.quantity }),
});

export const transactionsResponse = (page: TransactionPage) => ({
  items: page.items.map(transactionItem),
  nextCursor: page.nextBeforeSequence === null ? null : encodeCursor(page.nextBeforeSequence),
});

export const usageResponse = (
  accountId: string,
  range: { fromDay: string; toDay: string },
  groupBy: 'service' | 'day',
  totals: readonly UsageTotal[],
) => ({
  accountId,
  from: range.fromDay,
  to: range.toDay,
  groupBy,
  items: totals.map((total) => ({ [groupBy]: total.key, quantity: total.quantity, credits: formatCredits(total.creditsMillicredits) })),
  totalCredits: formatCredits(totals.reduce((sum, total) => sum + total.creditsMillicredits, 0)),
});

export const usageAnalyticsResponse = (range: { fromDay: string; toDay: string }, analytics: UsageAnalytics) => ({
  from: range.fromDay,
  to: range.toDay,
  byService: analytics.byService.map((total) => ({
    service: total.key,
    quantity: total.quantity,
    credits: formatCredits(total.creditsMillicredits),
    accounts: total.accounts,
  })),
  topAccounts: analytics.topAccounts.map((account) => ({ accountId: account.accountId, credits: formatCredits(account.creditsMillicredits) })),
});

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

export const reservationResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'CreditsReserved');
  return {
    reservationId: data.reservationId,
    service: data.service,
    quantity: data.quantity,
    reserved: formatCredits(data.reservedMillicredits),
    expiresAt: data.expiresAt,
    ...after(record),
  };
};

export const captureResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'ReservationCaptured');
  return {
    reservationId: data.reservationId,
    service: data.service,
    quantity: data.quantity,
    charged: formatCredits(data.chargedMillicredits),
    released: formatCredits(data.releasedMillicredits),
    ...after(record),
  };
};

export const releaseResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'ReservationReleased');
  return { reservationId: data.reservationId, released: formatCredits(data.releasedMillicredits), ...after(record) };
};

export const openReservationsResponse = ({ items }: OpenReservations) => ({
  items: items.map((reservation) => ({
    reservationId: reservation.reservationId,
    service: reservation.service,
    reserved: formatCredits(reservation.reservedMillicredits),
    expiresAt: reservation.expiresAt,
  })),
});

export const thresholdResponse = (record: CommandRecord) => {
  const { data } = eventOf(record, 'LowBalanceThresholdSet');
  return { accountId: data.accountId, lowBalanceThreshold: formatCredits(data.thresholdMillicredits), ...after(record) };
};
