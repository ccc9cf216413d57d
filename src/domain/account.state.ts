import { assert } from './assert';
import type { AccountEvent, LotDraw, LotSource } from './account.events';
import { minus, plus } from './money';

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
  /** The first event the command produced. */
  readonly event: AccountEvent;
  readonly balanceAfterMillicredits: number;
  readonly availableAfterMillicredits: number;
  /** Global log position of the command's last event. */
  readonly position: number;
}

export interface AccountState {
  readonly balanceMillicredits: number;
  readonly reservedMillicredits: number;
  readonly totalPurchasedMillicredits: number;
  readonly totalGrantedMillicredits: number;
  readonly totalUsedMillicredits: number;
  /** Lots with credits left, in creation order. Their sum is the balance. */
  readonly lots: readonly Lot[];
  readonly lotsCreated: number;
  /** Applied commands inside the idempotency window, oldest first. */
  readonly commands: ReadonlyMap<string, CommandRecord>;
}

export const initialAccountState: AccountState = {
  balanceMillicredits: 0,
  reservedMillicredits: 0,
  totalPurchasedMillicredits: 0,
  totalGrantedMillicredits: 0,
  totalUsedMillicredits: 0,
  lots: [],
  lotsCreated: 0,
  commands: new Map(),
};

export const availableMillicredits = (state: AccountState): number =>
  minus(state.balanceMillicredits, state.reservedMillicredits);

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
};

const draftOf = (state: AccountState): Draft => ({
  ...state,
  lots: [...state.lots],
  commands: new Map(state.commands),
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

const applyInPlace = (draft: Draft, event: AccountEvent, position: number, options: EvolveOptions): void => {
  applyBalance(draft, event);
  recordCommand(draft, event, position);
  forgetOldCommands(draft, event.data.occurredAt, options.idempotencyRetentionMs);
};

const applyBalance = (draft: Draft, event: AccountEvent): void => {
  switch (event.type) {
    case 'CreditsPurchased':
      addLot(draft, event.data.lotId, 'purchase', event.data.creditsMillicredits, null);
      draft.totalPurchasedMillicredits = plus(draft.totalPurchasedMillicredits, event.data.creditsMillicredits);
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
  const after = {
    balanceAfterMillicredits: balanceAfter,
    availableAfterMillicredits: minus(balanceAfter, draft.reservedMillicredits),
    position,
  };
  if (earlier?.requestHash === requestHash && earlier.recordedAt === occurredAt) {
    // A later event of the same command: the answer now ends at this event.
    draft.commands.set(commandId, { ...earlier, ...after });
    return;
  }
  draft.commands.delete(commandId); // re-inserted last, keeping the map oldest-first
  draft.commands.set(commandId, { commandId, requestHash, recordedAt: occurredAt, event, ...after });
};

const forgetOldCommands = (draft: Draft, now: string, retentionMs: number): void => {
  const horizon = Date.parse(now) - retentionMs;
  for (const [commandId, record] of draft.commands) {
    if (Date.parse(record.recordedAt) >= horizon) return;
    draft.commands.delete(commandId);
  }
};

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
