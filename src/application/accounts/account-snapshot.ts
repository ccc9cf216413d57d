import type { AccountEvent } from '../../domain/account.events';
import type { AccountState, CommandRecord, PurchaseRecord, Reservation } from '../../domain/account.state';

/**
 * Snapshots keep loading an account bounded however long its history: the state as of
 * one revision, and the hash of that revision's event so the chain carries on. They are
 * a cache, never a source of truth: losing one costs a longer load, an audit replays
 * the log without them, and a snapshot of another schema version is ignored.
 * Bump the version whenever AccountState or evolve changes what a replay produces.
 */
export const ACCOUNT_SNAPSHOT_VERSION = 1;

export interface AccountSnapshot {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly lastHash: string;
  readonly state: AccountState;
}

export interface SnapshotStore {
  /** The newest snapshot of the stream in the current version, if any. */
  read(streamId: string): Promise<AccountSnapshot | undefined>;
  /** Keeps the snapshot unless a newer revision is already kept. */
  write(snapshot: AccountSnapshot): Promise<void>;
}

export const SNAPSHOT_STORE = Symbol('SnapshotStore');

/** AccountState as JSON: its maps become arrays of entries. */
export interface SerializedAccountState extends Omit<AccountState, 'commands' | 'purchases' | 'heldPayments' | 'reservations'> {
  readonly commands: ReadonlyArray<readonly [string, CommandRecord]>;
  readonly purchases: ReadonlyArray<readonly [string, PurchaseRecord]>;
  readonly heldPayments: ReadonlyArray<readonly [string, string | null]>;
  readonly reservations: ReadonlyArray<readonly [string, Reservation]>;
}

/** Copies every collection, so the result stays as it is while the state moves on. */
export const serializeAccountState = (state: AccountState): SerializedAccountState => ({
  ...state,
  lots: [...state.lots],
  commands: [...state.commands],
  purchases: [...state.purchases],
  heldPayments: [...state.heldPayments],
  reservations: [...state.reservations],
});

export const deserializeAccountState = (serialized: SerializedAccountState): AccountState => ({
  ...serialized,
  lots: [...serialized.lots],
  commands: new Map(serialized.commands.map(([id, record]) => [id, { ...record, event: record.event as AccountEvent }])),
  purchases: new Map(serialized.purchases),
  heldPayments: new Map(serialized.heldPayments),
  reservations: new Map(serialized.reservations),
});
