import { assert } from './assert';
import type { AccountEvent, LotDraw, LotSource } from './account.events';
import { summarizeEvent, type EventSummary } from './event-summary';
import type { ReservationStatus } from './ledger-error';
import { minus, plus, saturatingMinus } from './money';
import type { AppliedRate } from './rate-card';

export interface Lot {
  readonly lotId: string;
  readonly source: LotSource;
  readonly remainingMillicredits: number;
  readonly expiresAt: string | null;
  /** Creation order within the account: the last tie-breaker of the burn order. */
  readonly sequence: number;
}

/** The recorded outcome of an applied command, returned again on a repeat. */
export interface CommandRecord {
  readonly commandId: string;
  readonly requestHash: string;
  readonly recordedAt: string;
  /** What a repeat is answered with of the first event the command produced (the whole event is in the log). */
  readonly event: EventSummary;
  readonly balanceAfterMillicredits: number;
  readonly availableAfterMillicredits: number;
  /** Global log position of the command's last event. */
  readonly position: number;
}

/** A purchase as refunds need it: found by its PaymentIntent, refunded by running total. */
export interface PurchaseRecord {
  readonly paymentReference: string;
  readonly paymentIntentId: string | null;
  readonly lotId: string;
  readonly creditsMillicredits: number;
  readonly priceCents: number;
  readonly refundedCentsTotal: number;
  readonly removedMillicredits: number;
}

export interface Reservation {
  readonly reservationId: string;
  readonly service: string;
  readonly rate: AppliedRate;
  readonly reservedMillicredits: number;
  readonly expiresAt: string;
  readonly status: ReservationStatus;
}

export interface AccountState {
  /** Lots less debt: negative only while refunds of spent credits are unpaid. */
  readonly balanceMillicredits: number;
  /** Refunded credits that were already spent; the next purchase pays it first. */
  readonly debtMillicredits: number;
  readonly reservedMillicredits: number;
  readonly totalPurchasedMillicredits: number;
  readonly totalGrantedMillicredits: number;
  readonly totalUsedMillicredits: number;
  /** Lots with credits left, in creation order. Their sum is the balance. */
  readonly lots: readonly Lot[];
  readonly lotsCreated: number;
  /** Applied commands inside the idempotency window, oldest first. */
  readonly commands: ReadonlyMap<string, CommandRecord>;
  /** Every purchase ever credited, by payment reference: never forgotten, so a payment credits once. */
  readonly purchases: ReadonlyMap<string, PurchaseRecord>;
  /** Payments held for review instead of credited: payment reference → PaymentIntent. */
  readonly heldPayments: ReadonlyMap<string, string | null>;
  /** Every reservation, open or closed (a closed one answers 409, an unknown one 404). */
  readonly reservations: ReadonlyMap<string, Reservation>;
  readonly lowBalanceThresholdMillicredits: number;
  /** True while available is at or above the threshold: the next fall below it raises an alert. */
  readonly lowBalanceArmed: boolean;
}

export const DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS = 10_000;

export const initialAccountState: AccountState = {
  balanceMillicredits: 0,
  debtMillicredits: 0,
  reservedMillicredits: 0,
  totalPurchasedMillicredits: 0,
  totalGrantedMillicredits: 0,
  totalUsedMillicredits: 0,
  lots: [],
  lotsCreated: 0,
  commands: new Map(),
  purchases: new Map(),
  heldPayments: new Map(),
  reservations: new Map(),
  lowBalanceThresholdMillicredits: DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS,
  // A new account has nothing: it is below any threshold, and says so only after first rising above it.
  lowBalanceArmed: false,
};

export const availableMillicredits = (state: AccountState): number =>
  saturatingMinus(state.balanceMillicredits, state.reservedMillicredits);

/** Credits of lots whose expiry has passed at `at` but that no expiry event has removed yet. */
export const lapsedMillicredits = (lots: readonly Pick<Lot, 'remainingMillicredits' | 'expiresAt'>[], at: string): number => {
  const instant = Date.parse(at);
  return lots.reduce(
    (sum, lot) => (lot.expiresAt !== null && Date.parse(lot.expiresAt) <= instant ? plus(sum, lot.remainingMillicredits) : sum),
    0,
  );
};

/** The balance a client is shown at `at`: lapsed credits are no longer theirs to spend. */
export const liveBalanceMillicredits = (state: AccountState, at: string): number =>
  minus(state.balanceMillicredits, lapsedMillicredits(state.lots, at));

export interface EvolveOptions {
  /** Records of commands older than this (relative to the newest event) are forgotten. */
  readonly idempotencyRetentionMs: number;
}

type Draft = { -readonly [K in keyof AccountState]: AccountState[K] } & {
  lots: Lot[];
  commands: Map<string, CommandRecord>;
  purchases: Map<string, PurchaseRecord>;
  heldPayments: Map<string, string | null>;
  reservations: Map<string, Reservation>;
};

const draftOf = (state: AccountState): Draft => ({
  ...state,
  lots: [...state.lots],
  commands: new Map(state.commands),
  purchases: new Map(state.purchases),
  heldPayments: new Map(state.heldPayments),
  reservations: new Map(state.reservations),
});

/** One event applied to a state; the given state is left untouched. */
export const evolve = (
  state: AccountState,
  event: AccountEvent,
  position: number,
  options: EvolveOptions,
): AccountState => {
  const draft = draftOf(state);
  applyInPlace(draft, event, position, options);
  return draft;
};

/** Replays a stream from a state: one copy, then every event applied in place. */
export const fold = (
  state: AccountState,
  events: Iterable<{ readonly event: AccountEvent; readonly position: number }>,
  options: EvolveOptions,
): AccountState => {
  const draft = draftOf(state);
  for (const { event, position } of events) applyInPlace(draft, event, position, options);
  return draft;
};

declare const workingBrand: unique symbol;
/** A private copy its single owner advances in place, so each event costs only itself. */
export type WorkingState = AccountState & { readonly [workingBrand]: true };

export const workingCopy = (state: AccountState): WorkingState => draftOf(state) as unknown as WorkingState;

/** Applies events to a working state in place. */
export const advance = (
  working: WorkingState,
  events: Iterable<{ readonly event: AccountEvent; readonly position: number }>,
  options: EvolveOptions,
): void => {
  for (const { event, position } of events) applyInPlace(working as unknown as Draft, event, position, options);
};

/** Gives an applied command's record its final log position, once the store has assigned it. */
export const settleCommandPosition = (working: WorkingState, commandId: string, position: number): void => {
  const commands = (working as unknown as Draft).commands;
  const record = commands.get(commandId);
  assert(record !== undefined, `no record of command ${commandId} to settle`);
  commands.set(commandId, commandRecord(record, record.balanceAfterMillicredits, record.availableAfterMillicredits, position));
};

/**
 * Puts back a record kept outside the state (a snapshot's archive of the idempotency
 * window), so a repeat of its command is answered as before.
 */
export const recallCommand = (working: WorkingState, record: CommandRecord): void => {
  (working as unknown as Draft).commands.set(record.commandId, record);
};

/**
 * Drops a record the archive now keeps, unless the state has moved on to another record
 * of that command; true when it was dropped.
 */
export const releaseCommand = (working: WorkingState, record: CommandRecord): boolean => {
  const commands = (working as unknown as Draft).commands;
  if (commands.get(record.commandId) !== record) return false;
  commands.delete(record.commandId);
  return true;
};

/** Drops a command's record: a command that cannot come again needs none once it is answered. */
export const forgetCommand = (working: WorkingState, commandId: string): void => {
  (working as unknown as Draft).commands.delete(commandId);
};

const applyInPlace = (draft: Draft, event: AccountEvent, position: number, options: EvolveOptions): void => {
  applyBalance(draft, event);
  if (!draft.lowBalanceArmed && saturatingMinus(draft.balanceMillicredits, draft.reservedMillicredits) >= draft.lowBalanceThresholdMillicredits) {
    draft.lowBalanceArmed = true;
  }
  recordCommand(draft, event, position);
  forgetOldCommands(draft, event.data.occurredAt, options.idempotencyRetentionMs);
};

const applyBalance = (draft: Draft, event: AccountEvent): void => {
  switch (event.type) {
    case 'CreditsPurchased': {
      const { lotId, creditsMillicredits, debtSettledMillicredits, paymentReference, paymentIntentId, priceCents } = event.data;
      assert(debtSettledMillicredits <= draft.debtMillicredits, `purchase ${lotId} settles more than the debt`);
      const lotMillicredits = minus(creditsMillicredits, debtSettledMillicredits);
      if (lotMillicredits > 0) addLot(draft, lotId, 'purchase', lotMillicredits, null);
      draft.debtMillicredits = minus(draft.debtMillicredits, debtSettledMillicredits);
      draft.balanceMillicredits = plus(draft.balanceMillicredits, debtSettledMillicredits);
      draft.totalPurchasedMillicredits = plus(draft.totalPurchasedMillicredits, creditsMillicredits);
      draft.purchases.set(paymentReference, {
        paymentReference,
        paymentIntentId,
        lotId,
        creditsMillicredits,
        priceCents,
        refundedCentsTotal: 0,
        removedMillicredits: 0,
      });
      return;
    }
    case 'CreditsRefunded': {
      const { paymentReference, draws, creditsMillicredits, debtIncurredMillicredits, refundedCentsTotal } = event.data;
      const purchase = draft.purchases.get(paymentReference);
      assert(purchase !== undefined, `refund of unknown purchase ${paymentReference}`);
      takeDraws(draft, draws, minus(creditsMillicredits, debtIncurredMillicredits));
      draft.debtMillicredits = plus(draft.debtMillicredits, debtIncurredMillicredits);
      draft.balanceMillicredits = minus(draft.balanceMillicredits, debtIncurredMillicredits);
      draft.purchases.set(paymentReference, {
        ...purchase,
        refundedCentsTotal: Math.max(purchase.refundedCentsTotal, refundedCentsTotal),
        removedMillicredits: plus(purchase.removedMillicredits, creditsMillicredits),
      });
      return;
    }
    case 'PaymentHeldForReview':
      draft.heldPayments.set(event.data.paymentReference, event.data.paymentIntentId);
      return;
    case 'CreditsReserved': {
      const { reservationId, service, reservedMillicredits, expiresAt, rateCardVersion, unit, unitPriceMillicredits, per } = event.data;
      draft.reservations.set(reservationId, {
        reservationId,
        service,
        rate: { rateCardVersion, unit, unitPriceMillicredits, per },
        reservedMillicredits,
        expiresAt,
        status: 'open',
      });
      draft.reservedMillicredits = plus(draft.reservedMillicredits, reservedMillicredits);
      return;
    }
    case 'ReservationCaptured': {
      const reservation = closeReservation(draft, event.data.reservationId, 'captured');
      takeDraws(draft, event.data.draws, event.data.chargedMillicredits);
      draft.totalUsedMillicredits = plus(draft.totalUsedMillicredits, event.data.chargedMillicredits);
      assert(reservation.reservedMillicredits >= 0, 'a reservation holds credits');
      return;
    }
    case 'ReservationReleased':
      closeReservation(draft, event.data.reservationId, event.data.reason);
      return;
    case 'LowBalanceThresholdSet':
      draft.lowBalanceThresholdMillicredits = event.data.thresholdMillicredits;
      return;
    case 'LowBalanceReached':
      draft.lowBalanceArmed = false;
      return;
    case 'CreditsExpired':
      takeDraws(draft, [{ lotId: event.data.lotId, millicredits: event.data.expiredMillicredits }], event.data.expiredMillicredits);
      return;
    case 'CreditsGranted':
      addLot(draft, event.data.lotId, 'grant', event.data.creditsMillicredits, event.data.expiresAt);
      draft.totalGrantedMillicredits = plus(draft.totalGrantedMillicredits, event.data.creditsMillicredits);
      return;
    case 'CreditsUsed':
      takeDraws(draft, event.data.draws, event.data.chargedMillicredits);
      draft.totalUsedMillicredits = plus(draft.totalUsedMillicredits, event.data.chargedMillicredits);
      return;
    case 'CreditsAdjusted':
      if (event.data.creditsMillicredits > 0) {
        addLot(draft, event.data.adjustmentId, 'adjustment', event.data.creditsMillicredits, null);
      } else {
        takeDraws(draft, event.data.draws, -event.data.creditsMillicredits);
      }
      return;
    default:
      return assertNever(event);
  }
};

/** Ends an open reservation: its hold no longer counts against available. */
const closeReservation = (draft: Draft, reservationId: string, status: Exclude<ReservationStatus, 'open'>): Reservation => {
  const reservation = draft.reservations.get(reservationId);
  assert(reservation?.status === 'open', `reservation ${reservationId} is not open`);
  draft.reservations.set(reservationId, { ...reservation, status });
  draft.reservedMillicredits = minus(draft.reservedMillicredits, reservation.reservedMillicredits);
  return reservation;
};

const addLot = (draft: Draft, lotId: string, source: LotSource, millicredits: number, expiresAt: string | null): void => {
  assert(millicredits > 0, `lot ${lotId} must hold credits`);
  draft.lots.push({ lotId, source, remainingMillicredits: millicredits, expiresAt, sequence: draft.lotsCreated });
  draft.lotsCreated += 1;
  draft.balanceMillicredits = plus(draft.balanceMillicredits, millicredits);
};

const takeDraws = (draft: Draft, draws: readonly LotDraw[], totalMillicredits: number): void => {
  const drawn = draws.reduce((sum, draw) => plus(sum, draw.millicredits), 0);
  assert(drawn === totalMillicredits, `draws ${drawn} must add up to ${totalMillicredits}`);
  for (const draw of draws) {
    const index = draft.lots.findIndex((lot) => lot.lotId === draw.lotId);
    const lot = draft.lots[index];
    assert(lot !== undefined, `draw from unknown lot ${draw.lotId}`);
    const remaining = minus(lot.remainingMillicredits, draw.millicredits);
    assert(remaining >= 0, `lot ${lot.lotId} overdrawn`);
    if (remaining === 0) draft.lots.splice(index, 1);
    else draft.lots[index] = { ...lot, remainingMillicredits: remaining };
  }
  draft.balanceMillicredits = minus(draft.balanceMillicredits, totalMillicredits);
};

const recordCommand = (draft: Draft, event: AccountEvent, position: number): void => {
  const { commandId, requestHash, occurredAt } = event.data;
  const earlier = draft.commands.get(commandId);
  const balanceAfter = liveBalanceMillicredits(draft, occurredAt);
  const availableAfter = saturatingMinus(balanceAfter, draft.reservedMillicredits);
  if (earlier?.requestHash === requestHash && earlier.recordedAt === occurredAt) {
    // A later event of the same command: the answer now ends at this event.
    draft.commands.set(commandId, commandRecord(earlier, balanceAfter, availableAfter, position));
    return;
  }
  draft.commands.delete(commandId); // re-inserted last, keeping the map oldest-first
  const identity = { commandId, requestHash, recordedAt: occurredAt, event: summarizeEvent(event) };
  draft.commands.set(commandId, commandRecord(identity, balanceAfter, availableAfter, position));
};

/**
 * A record as one object literal naming every field: all records share one shape with
 * the fields in the object itself. A literal with a spread (`{ ...earlier, position }`,
 * `{ commandId, ..., ...after }`) puts the fields past its own into a separate property
 * array: one more object per record for every major GC to mark, and records are most of
 * a busy service's heap.
 */
const commandRecord = (
  identity: Pick<CommandRecord, 'commandId' | 'requestHash' | 'recordedAt' | 'event'>,
  balanceAfterMillicredits: number,
  availableAfterMillicredits: number,
  position: number,
): CommandRecord => ({
  commandId: identity.commandId,
  requestHash: identity.requestHash,
  recordedAt: identity.recordedAt,
  event: identity.event,
  balanceAfterMillicredits,
  availableAfterMillicredits,
  position,
});

/**
 * Records a map has forgotten since it was last copied. A Map keeps a hole for each deleted
 * entry until V8 rebuilds its table, and every iteration steps over the holes before its first
 * entry. Forgetting the oldest records puts all the holes there, so a replay whose window holds
 * a day of records (86,400 at one event a second) stepped over tens of thousands of them per
 * event: 34-42 µs an event over 300,000 events, against 6-8 µs with the copy below
 * (`node bench/fold-replay.mjs`). Keyed by the map itself, so states stay plain data.
 */
const forgottenSinceCopy = new WeakMap<Map<string, CommandRecord>, number>();
const COPY_AFTER_FORGOTTEN = 64;
const COPY_AFTER_SHARE = 8;

const forgetOldCommands = (draft: Draft, now: string, retentionMs: number): void => {
  const horizon = Date.parse(now) - retentionMs;
  let forgotten = 0;
  for (const [commandId, record] of draft.commands) {
    if (Date.parse(record.recordedAt) >= horizon) break;
    draft.commands.delete(commandId);
    forgotten += 1;
  }
  if (forgotten === 0) return;
  const holes = (forgottenSinceCopy.get(draft.commands) ?? 0) + forgotten;
  // A copy has no holes; it costs the map's size, paid once every size/8 forgotten records.
  if (holes >= Math.max(COPY_AFTER_FORGOTTEN, draft.commands.size / COPY_AFTER_SHARE)) draft.commands = new Map(draft.commands);
  else forgottenSinceCopy.set(draft.commands, holes);
};

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
