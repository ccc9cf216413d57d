import type { EventStore } from '../../../src/application/event-store.port';
import { encodeAccountEvent } from '../../../src/application/accounts/account-event-codec';
import type { AccountCommand } from '../../../src/domain/account.commands';
import { decide } from '../../../src/domain/account.decider';
import { accountStreamId, type AccountEvent } from '../../../src/domain/account.events';
import { evolve, initialAccountState, type AccountState } from '../../../src/domain/account.state';
import type { AppliedRate } from '../../../src/domain/rate-card';

/**
 * Realistic account histories for projection tests, without the HTTP write path: each
 * command goes through the pure decider against the account's folded state, so lot draws,
 * expiries and refusals are exactly what the service would record. Fixed seed, fixed
 * instants: the same history on every run.
 */
const RETENTION_MS = 24 * 60 * 60 * 1000;
const DECIDE_OPTIONS = { idempotencyRetentionMs: RETENTION_MS };

const rate = (unit: string, credits: number, per: number): AppliedRate => ({
  rateCardVersion: '2025-01',
  unit,
  unitPriceMillicredits: credits * 1000,
  per,
});

/** A slice of the API's rate card, with the quantities a client typically sends. */
const USAGE: ReadonlyArray<{ readonly service: string; readonly rate: AppliedRate; readonly quantity: readonly [number, number] }> = [
  { service: 'sms', rate: rate('message', 1, 1), quantity: [1, 3] },
  { service: 'ai_response', rate: rate('response', 2, 1), quantity: [1, 2] },
  { service: 'gpt-4', rate: rate('token', 60, 1000), quantity: [50, 1500] },
  { service: 'gpt-3.5', rate: rate('token', 2, 1000), quantity: [100, 5000] },
  { service: 'claude', rate: rate('token', 2, 1000), quantity: [100, 3000] },
  { service: 'voice_call', rate: rate('second', 1, 60), quantity: [5, 600] },
  { service: 'document_upload', rate: rate('document', 5, 1), quantity: [1, 1] },
];

export interface HistoryAppend {
  readonly accountId: string;
  readonly streamId: string;
  readonly expected: 'no_stream' | number;
  readonly events: readonly AccountEvent[];
}

export interface AccountHistory {
  readonly appends: readonly HistoryAppend[];
  readonly events: readonly AccountEvent[];
  /** Each account's state after its whole history, as the write side folds it. */
  readonly states: ReadonlyMap<string, AccountState>;
}

export interface HistoryOptions {
  readonly accountIds: readonly string[];
  /** Commands to decide; refused ones (insufficient credits) record nothing. */
  readonly commands: number;
  readonly seed: number;
  readonly startAt: string;
  readonly stepMs: number;
}

/** mulberry32: a small seeded generator, so the history is fixed data. */
const seeded = (seed: number) => {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const between = (low: number, high: number): number => low + Math.floor(next() * (high - low + 1));
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  return { next, between, pick };
};

type Random = ReturnType<typeof seeded>;

const nextCommand = (accountId: string, state: AccountState, n: number, now: string, random: Random): AccountCommand => {
  const envelope = { accountId, commandId: `${accountId}-c${n}`, requestHash: `hash-${accountId}-c${n}`, now };
  const grant = (): AccountCommand => ({
    ...envelope,
    type: 'GrantCredits',
    grantId: `grant-${accountId}-${n}`,
    creditsMillicredits: random.between(20, 200) * 1000 + random.between(0, 999),
    reason: `promotion ${n}`,
    // Some grants expire inside the history, so later spends must pass over them.
    expiresAt: random.next() < 0.5 ? new Date(Date.parse(now) + 36 * 60 * 60 * 1000).toISOString() : null,
    grantedBy: 'ops-admin',
  });
  const purchase = (): AccountCommand => ({
    ...envelope,
    type: 'RecordPurchase',
    purchaseId: `purchase-${accountId}-${n}`,
    packageId: 'starter',
    expected: { creditsMillicredits: 100_000, priceCents: 1000, currency: 'usd' },
    paidCents: 1000,
    paidCurrency: 'usd',
    paymentReference: `cs_test_${accountId}_${n}`,
    paymentIntentId: `pi_test_${accountId}_${n}`,
  });
  if (state.lots.length === 0) return random.next() < 0.5 ? grant() : purchase();
  const roll = random.next();
  if (roll < 0.1) return purchase();
  if (roll < 0.18) return grant();
  if (roll < 0.26) {
    const available = state.balanceMillicredits - state.reservedMillicredits;
    const credit = random.next() < 0.5 || available < 2;
    return {
      ...envelope,
      type: 'AdjustCredits',
      adjustmentId: `adjust-${accountId}-${n}`,
      creditsMillicredits: credit ? random.between(1, 20_000) : -random.between(1, Math.floor(available / 2)),
      reason: credit ? 'goodwill' : 'correction',
      adjustedBy: 'ops-admin',
    };
  }
  const usage = random.pick(USAGE);
  return {
    ...envelope,
    type: 'UseCredits',
    usageId: `usage-${accountId}-${n}`,
    service: usage.service,
    quantity: random.between(...usage.quantity),
    rate: usage.rate,
    metadata: { requestId: `req-${n}` },
  };
};

/**
 * Decides `commands` commands spread over the accounts, one step of `stepMs` apart. Now and
 * then two or three commands of one account land in one append, as the write side's
 * single-writer queue does for what it decides in one tick.
 */
export const accountHistory = ({ accountIds, commands, seed, startAt, stepMs }: HistoryOptions): AccountHistory => {
  const random = seeded(seed);
  const states = new Map<string, AccountState>(accountIds.map((accountId) => [accountId, initialAccountState]));
  const revisions = new Map<string, number>();
  const appends: HistoryAppend[] = [];
  let instant = Date.parse(startAt);
  let n = 0;
  while (n < commands) {
    const accountId = random.pick(accountIds);
    const group = random.next() < 0.2 ? random.between(2, 3) : 1;
    const events: AccountEvent[] = [];
    for (let i = 0; i < group && n < commands; i += 1, n += 1) {
      instant += stepMs;
      const state = states.get(accountId) ?? initialAccountState;
      const decision = decide(nextCommand(accountId, state, n, new Date(instant).toISOString(), random), state, DECIDE_OPTIONS);
      if (decision.status !== 'accepted') continue;
      events.push(...decision.events);
      states.set(accountId, decision.events.reduce((folded, event) => evolve(folded, event, 0, DECIDE_OPTIONS), state));
    }
    if (events.length === 0) continue;
    const before = revisions.get(accountId) ?? 0;
    appends.push({ accountId, streamId: accountStreamId(accountId), expected: before === 0 ? 'no_stream' : before - 1, events });
    revisions.set(accountId, before + events.length);
  }
  return { appends, events: appends.flatMap((append) => append.events), states };
};

/** Appends in order with the expected revisions the history was decided against; returns each append's last position. */
export const appendHistory = async (store: EventStore, appends: readonly HistoryAppend[]): Promise<bigint[]> => {
  const positions: bigint[] = [];
  for (const append of appends) {
    const events = append.events.map((event) => encodeAccountEvent(event, `evt-${event.data.commandId}-${event.type}`));
    positions.push((await store.append(append.streamId, events, append.expected)).position);
  }
  return positions;
};

/** The event types that make a line of an account's history (the transactions read model). */
const HISTORY_TYPES: ReadonlySet<string> = new Set([
  'CreditsPurchased',
  'CreditsGranted',
  'CreditsUsed',
  'CreditsAdjusted',
  'CreditsRefunded',
  'ReservationCaptured',
  'CreditsExpired',
]);

export const isHistoryEntry = (type: string): boolean => HISTORY_TYPES.has(type);

/** What the read models must add up to for a set of events. */
export const historyTotals = (events: readonly AccountEvent[]) => {
  let chargedMillicredits = 0;
  let quantity = 0;
  let purchases = 0;
  for (const event of events) {
    if (event.type === 'CreditsUsed') {
      chargedMillicredits += event.data.chargedMillicredits;
      quantity += event.data.quantity;
    }
    if (event.type === 'CreditsPurchased') purchases += 1;
  }
  return { events: events.filter((event) => isHistoryEntry(event.type)).length, chargedMillicredits, quantity, purchases };
};
