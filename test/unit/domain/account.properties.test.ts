import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import type { AccountCommand } from '../../../src/domain/account.commands';
import { burnOrder, decide, spendableMillicredits, type Decision } from '../../../src/domain/account.decider';
import type { AccountEvent } from '../../../src/domain/account.events';
import {
  availableMillicredits,
  evolve,
  fold,
  initialAccountState,
  type AccountState,
  type EvolveOptions,
} from '../../../src/domain/account.state';
import {
  ACCOUNT_ID,
  MAR_1,
  RETENTION_MS,
  SERVICES,
  adjustCredits,
  grantCredits,
  rateOf,
  recordPurchase,
  useCredits,
} from './account.fixtures';

/**
 * Generated histories of commands, each decided and evolved in turn, with the ledger's
 * invariants checked after every step.
 */
const OPTIONS: EvolveOptions = { idempotencyRetentionMs: RETENTION_MS };
const HOUR_MS = 60 * 60 * 1000;
const MAX = Number.MAX_SAFE_INTEGER;

type Step =
  | { readonly kind: 'purchase'; readonly millicredits: number }
  | { readonly kind: 'grant'; readonly millicredits: number; readonly expiresInMs: number | null }
  /** `all`: as many units as what is spendable pays for, to reach a zero balance often. */
  | { readonly kind: 'use'; readonly service: string; readonly quantity: number | 'all' }
  | { readonly kind: 'adjust'; readonly millicredits: number }
  | { readonly kind: 'repeat'; readonly pick: number; readonly sameHash: boolean }
  /** Stripe's running refunded total on an earlier purchase (starter: 1000 cents; above it is clamped). */
  | { readonly kind: 'refund'; readonly pick: number; readonly refundedCentsTotal: number }
  | { readonly kind: 'reserve'; readonly service: string; readonly quantity: number; readonly ttlMs: number }
  /** What happens to an earlier reservation: captured (for some quantity), released, or expired by the schedule. */
  | { readonly kind: 'close'; readonly pick: number; readonly how: 'capture' | 'release' | 'expire'; readonly quantity: number };

interface TimedStep {
  readonly step: Step;
  /** Time only moves forward: 0 (same instant), minutes, or past the retention window. */
  readonly advanceMs: number;
  /** Other streams' events between ours: positions grow, not always by one. */
  readonly positionGap: number;
}

interface Scale {
  readonly credit: fc.Arbitrary<number>;
  readonly quantity: fc.Arbitrary<number>;
}

const REALISTIC: Scale = {
  credit: fc.oneof(fc.constantFrom(100_000, 500_000, 1_000_000), fc.integer({ min: 1, max: 200_000 })),
  quantity: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 3000 })),
};

const stepOf = (scale: Scale): fc.Arbitrary<Step> =>
  fc.oneof(
    scale.credit.map((millicredits): Step => ({ kind: 'purchase', millicredits })),
    fc
      .record({
        millicredits: scale.credit,
        // Mostly ahead, sometimes now or past (refused), sometimes inside the history.
        expiresInMs: fc.option(fc.integer({ min: -HOUR_MS, max: 72 * HOUR_MS }), { nil: null }),
      })
      .map((grant): Step => ({ kind: 'grant', ...grant })),
    {
      weight: 3,
      arbitrary: fc
        .record({
          service: fc.constantFrom(...SERVICES),
          quantity: fc.oneof({ weight: 4, arbitrary: scale.quantity }, fc.constant('all' as const)),
        })
        .map((use): Step => ({ kind: 'use', ...use })),
    },
    fc
      .tuple(scale.credit, fc.boolean())
      .map(([millicredits, debit]): Step => ({ kind: 'adjust', millicredits: debit ? -millicredits : millicredits })),
    fc.record({ pick: fc.nat(), sameHash: fc.boolean() }).map((repeat): Step => ({ kind: 'repeat', ...repeat })),
    fc
      .record({ service: fc.constantFrom(...SERVICES), quantity: scale.quantity, ttlMs: fc.integer({ min: 1, max: 2 * HOUR_MS }) })
      .map((reserve): Step => ({ kind: 'reserve', ...reserve })),
    fc
      .record({ pick: fc.nat(), how: fc.constantFrom('capture' as const, 'release' as const, 'expire' as const), quantity: scale.quantity })
      .map((close): Step => ({ kind: 'close', ...close })),
    fc
      .record({ pick: fc.nat(), refundedCentsTotal: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(1000), fc.integer({ min: 1000, max: 1200 })) })
      .map((refund): Step => ({ kind: 'refund', ...refund })),
  );

const historyOf = (scale: Scale): fc.Arbitrary<readonly TimedStep[]> =>
  fc.array(
    fc.record({
      step: stepOf(scale),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: HOUR_MS }), fc.integer({ min: 1, max: 30 * HOUR_MS })),
      positionGap: fc.nat(3),
    }),
    { minLength: 1, maxLength: 60, size: 'max' },
  );

const allOf = (service: string, state: AccountState, now: string): number => {
  const { unitPriceMillicredits, per } = rateOf(service);
  const units = (BigInt(spendableMillicredits(state, now)) * BigInt(per)) / BigInt(unitPriceMillicredits);
  return Number(units < 1n ? 1n : units > BigInt(MAX) ? BigInt(MAX) : units);
};

const commandFor = (
  step: Step,
  index: number,
  now: string,
  issued: readonly AccountCommand[],
  state: AccountState,
): AccountCommand | undefined => {
  const commandId = `cmd-${index}`;
  switch (step.kind) {
    case 'purchase':
      return recordPurchase(commandId, now, step.millicredits);
    case 'grant': {
      const expiresAt = step.expiresInMs === null ? null : new Date(Date.parse(now) + step.expiresInMs).toISOString();
      return grantCredits(commandId, now, step.millicredits, expiresAt);
    }
    case 'use':
      return useCredits(commandId, now, step.service, step.quantity === 'all' ? allOf(step.service, state, now) : step.quantity);
    case 'adjust':
      return adjustCredits(commandId, now, step.millicredits);
    case 'reserve':
      return {
        type: 'ReserveCredits',
        accountId: ACCOUNT_ID,
        commandId,
        requestHash: `hash-${commandId}`,
        now,
        reservationId: `rsv-${commandId}`,
        service: step.service,
        quantity: step.quantity,
        rate: rateOf(step.service),
        expiresAt: new Date(Date.parse(now) + step.ttlMs).toISOString(),
      };
    case 'close': {
      const reservations = issued.filter((command) => command.type === 'ReserveCredits');
      const reservation = reservations[step.pick % Math.max(1, reservations.length)];
      if (reservation === undefined) return undefined;
      const envelope = { accountId: ACCOUNT_ID, commandId, requestHash: `hash-${commandId}`, now, reservationId: reservation.reservationId };
      if (step.how === 'capture') return { type: 'CaptureReservation', ...envelope, quantity: step.quantity };
      return step.how === 'release' ? { type: 'ReleaseReservation', ...envelope } : { type: 'ExpireReservation', ...envelope };
    }
    case 'refund': {
      const purchases = issued.filter((command) => command.type === 'RecordPurchase');
      const purchase = purchases[step.pick % Math.max(1, purchases.length)];
      if (purchase?.paymentIntentId == null) return undefined;
      return {
        type: 'RefundPurchase',
        accountId: ACCOUNT_ID,
        commandId,
        requestHash: `hash-${commandId}`,
        now,
        paymentIntentId: purchase.paymentIntentId,
        refundedCentsTotal: step.refundedCentsTotal,
      };
    }
    case 'repeat': {
      const earlier = issued[step.pick % Math.max(1, issued.length)];
      if (earlier === undefined) return undefined;
      const repeated = { ...earlier, now, requestHash: step.sameHash ? earlier.requestHash : `${earlier.requestHash}-changed` };
      // Like the application, a new execution of a command gets fresh entity ids.
      const freshId = `lot-repeat-${index}`;
      switch (repeated.type) {
        case 'UseCredits':
          return { ...repeated, usageId: freshId };
        case 'GrantCredits':
          return { ...repeated, grantId: freshId };
        case 'AdjustCredits':
          return { ...repeated, adjustmentId: freshId };
        case 'RecordPurchase':
          return { ...repeated, purchaseId: freshId };
        case 'RefundPurchase':
        case 'CaptureReservation':
        case 'ReleaseReservation':
        case 'ExpireReservation':
        case 'ExpireLot':
        case 'SetLowBalanceThreshold':
          return repeated;
        case 'ReserveCredits':
          return { ...repeated, reservationId: freshId };
      }
    }
  }
};

/** What a history built step by step must satisfy after every step. */
interface Ledger {
  state: AccountState;
  readonly log: { readonly event: AccountEvent; readonly position: number }[];
  adjustedInMillicredits: bigint;
  adjustedOutMillicredits: bigint;
  refundedMillicredits: bigint;
}

/** Exact sums: with amounts near MAX_SAFE_INTEGER a float sum would hide an error. */
const sum = (values: readonly number[]): bigint => values.reduce((total, value) => total + BigInt(value), 0n);

/**
 * Jest's expect costs tens of microseconds a call: thousands of steps go through these
 * fast checks, and expect only runs to explain a failure.
 */
const same = (actual: unknown, expected: unknown): void => {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toStrictEqual(expected);
};

const holds = (condition: boolean, what: string, detail: () => unknown): void => {
  if (condition) return;
  const printable = (_: string, value: unknown): unknown => (typeof value === 'bigint' ? `${value}n` : value);
  throw new Error(`${what}: ${JSON.stringify(detail(), printable)}`);
};

const checkInvariants = (ledger: Ledger): void => {
  const { state } = ledger;
  // Only a refund of credits already spent may take the balance below zero, and then as debt.
  holds(availableMillicredits(state) >= 0 || state.debtMillicredits > 0, 'available is negative only in debt', () => state);
  holds(state.debtMillicredits >= 0, 'debt is never negative', () => state);
  holds(state.reservedMillicredits >= 0, 'holds are never negative', () => state);
  same(
    sum([...state.reservations.values()].filter((reservation) => reservation.status === 'open').map((reservation) => reservation.reservedMillicredits)),
    BigInt(state.reservedMillicredits),
  );
  same(sum(state.lots.map((lot) => lot.remainingMillicredits)) - BigInt(state.debtMillicredits), BigInt(state.balanceMillicredits));
  for (const lot of state.lots) {
    holds(Number.isSafeInteger(lot.remainingMillicredits) && lot.remainingMillicredits > 0, 'every lot holds credits', () => lot);
  }
  same(
    sum([state.totalPurchasedMillicredits, state.totalGrantedMillicredits]) +
      ledger.adjustedInMillicredits -
      BigInt(state.totalUsedMillicredits) -
      ledger.adjustedOutMillicredits -
      ledger.refundedMillicredits,
    BigInt(state.balanceMillicredits),
  );
  same(fold(initialAccountState, ledger.log, OPTIONS), state);
};

/** The decision itself against the state it was made on: idempotency, refusals, the spend's draws. */
const checkDecision = (decision: Decision, command: AccountCommand, before: AccountState): void => {
  const prior = before.commands.get(command.commandId);
  const remembered = prior !== undefined && Date.parse(prior.recordedAt) >= Date.parse(command.now) - RETENTION_MS;
  if (remembered && prior.requestHash === command.requestHash) {
    same(decision, { status: 'replayed', record: prior });
    return;
  }
  if (remembered) {
    same(decision, { status: 'rejected', error: { code: 'idempotency_key_reused' } });
    return;
  }
  if (decision.status === 'replayed') throw new Error(`only a remembered command is replayed: ${command.commandId}`);
  if (decision.status === 'rejected') {
    const { error } = decision;
    holds(error.code !== 'idempotency_key_reused', 'only a remembered key is reused', () => command);
    if (error.code === 'insufficient_credits') {
      holds(error.requiredMillicredits > error.availableMillicredits, 'a refusal for want of credits must be true', () => error);
    }
    return;
  }
  if (decision.status === 'accepted' && command.type === 'UseCredits') checkSpend(decision.events, command.now, before);
};

const checkSpend = (events: readonly AccountEvent[], now: string, before: AccountState): void => {
  const [event, ...others] = events;
  // A spend may also raise the low-balance alert, and nothing else.
  same(others.map((other) => other.type).filter((type) => type !== 'LowBalanceReached'), []);
  if (event?.type !== 'CreditsUsed') throw new Error(`a spend must record CreditsUsed, got ${event?.type}`);
  const { quantity, unitPriceMillicredits, per, chargedMillicredits, draws } = event.data;
  same(BigInt(chargedMillicredits), (BigInt(quantity) * BigInt(unitPriceMillicredits) + BigInt(per) - 1n) / BigInt(per));
  holds(chargedMillicredits <= spendableMillicredits(before, now), 'a spend stays within what is spendable', () => event);
  same(sum(draws.map((entry) => entry.millicredits)), BigInt(chargedMillicredits));
  // The draws take live lots in burn order, each one whole except the last.
  const live = before.lots.filter((lot) => lot.expiresAt === null || Date.parse(lot.expiresAt) > Date.parse(now));
  const expectedOrder = [...live].sort(burnOrder).slice(0, draws.length);
  same(
    draws.map((entry) => entry.lotId),
    expectedOrder.map((lot) => lot.lotId),
  );
  same(
    draws.slice(0, -1).map((entry) => entry.millicredits),
    expectedOrder.slice(0, -1).map((lot) => lot.remainingMillicredits),
  );
};

const replay = (history: readonly TimedStep[]): void => {
  const ledger: Ledger = { state: initialAccountState, log: [], adjustedInMillicredits: 0n, adjustedOutMillicredits: 0n, refundedMillicredits: 0n };
  const issued: AccountCommand[] = [];
  let instant = Date.parse(MAR_1);
  let position = 0;
  history.forEach(({ step, advanceMs, positionGap }, index) => {
    instant += advanceMs;
    const command = commandFor(step, index, new Date(instant).toISOString(), issued, ledger.state);
    if (command === undefined) return;
    issued.push(command);
    const decision = decide(command, ledger.state, OPTIONS);
    checkDecision(decision, command, ledger.state);
    if (decision.status === 'accepted') {
      for (const event of decision.events) {
        position += 1 + positionGap;
        ledger.state = evolve(ledger.state, event, position, OPTIONS);
        ledger.log.push({ event, position });
        if (event.type === 'CreditsAdjusted' && event.data.creditsMillicredits > 0) {
          ledger.adjustedInMillicredits += BigInt(event.data.creditsMillicredits);
        } else if (event.type === 'CreditsAdjusted') {
          ledger.adjustedOutMillicredits -= BigInt(event.data.creditsMillicredits);
        } else if (event.type === 'CreditsRefunded') {
          ledger.refundedMillicredits += BigInt(event.data.creditsMillicredits);
        }
      }
    }
    checkInvariants(ledger);
  });
};

describe('any sequence of commands', () => {
  it('keeps available ≥ 0, lots summing to the balance, consistent totals, and a log that replays to the same state', () => {
    fc.assert(
      fc.property(historyOf(REALISTIC), (history) => replay(history)),
      { numRuns: 200 },
    );
  });

  it('keeps the same invariants with amounts at the edge of the safe-integer range', () => {
    const EDGE: Scale = {
      credit: fc.oneof(REALISTIC.credit, fc.integer({ min: 1, max: MAX }), fc.integer({ min: MAX - 1_000_000, max: MAX })),
      quantity: fc.oneof(REALISTIC.quantity, fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: 2 ** 40 })),
    };
    fc.assert(
      fc.property(historyOf(EDGE), (history) => replay(history)),
      // Bounded: a failure's long histories would otherwise take many seconds to shrink.
      { numRuns: 200, interruptAfterTimeLimit: 4000, ...(process.env["FC_SEED"] ? { seed: Number(process.env["FC_SEED"]), path: process.env["FC_PATH"] ?? "" } : {}) },
    );
  });
});
