import type { AccountEvent } from '../../domain/account.events';
import type { AccountState, CommandRecord, PurchaseRecord, Reservation } from '../../domain/account.state';
import { summarizeEvent, type EventSummary } from '../../domain/event-summary';
import type { ArchivedCommands } from './archived-commands';

/**
 * Snapshots keep loading an account bounded however long its history: the state as of
 * one revision, and the hash of that revision's event so the chain carries on. They are
 * a cache, never a source of truth: losing one costs a longer load, an audit replays
 * the log without them, and a snapshot of another schema version is ignored.
 * Bump the version whenever AccountState or evolve changes what a replay produces.
 */
export const ACCOUNT_SNAPSHOT_VERSION = 5;

/**
 * Versions a load may start from. 3, 4 and 5 hold the same state and differ in how their
 * archive chunks are kept: 3 names ids, 4 keys, and 5 packs the keys (see the store's
 * chunks); 5 reads all three. A process of version 3 or 4 reads only its own versions, so
 * it never starts from a snapshot whose archived ids it cannot read.
 */
export const READABLE_SNAPSHOT_VERSIONS: readonly number[] = [3, 4, ACCOUNT_SNAPSHOT_VERSION];

/**
 * The idempotency window of a long-lived account holds tens of thousands of command
 * records, each with a summary of its first event: parsing them all would dominate every load. A
 * snapshot therefore archives the records taken since the one before (one row each,
 * beside the snapshot); a load reads back only the archived ids, and a command whose id
 * is archived has its record recalled before it is decided, so a repeat is answered
 * exactly as before. A snapshot writes only what changed since the last one plus the
 * state without its records, so it can be taken every few thousand events however long
 * the window is (version 2 rewrote every archived id each time and so fell behind).
 */
export type { ArchivedCommands } from './archived-commands';

/** What a snapshot keeps: the state as of one revision. */
export interface SnapshotToWrite {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly lastHash: string;
  /** Its command records are archived, and the state is kept without them. */
  readonly state: AccountState;
}

export interface AccountSnapshot extends SnapshotToWrite {
  /** Holds no command records: they are archived. */
  readonly state: AccountState;
  /** Commands whose records are archived: archiveKey(id) → recorded at (epoch ms). */
  readonly archivedCommands: ArchivedCommands;
}

export interface SnapshotStore {
  /** The newest snapshot of the stream in a readable version, if any, with the keys of every archived record of the stream. */
  read(streamId: string): Promise<AccountSnapshot | undefined>;
  /**
   * In one transaction: archives the state's command records, forgets archived records
   * recorded before `forgetBefore` (epoch ms), and keeps the snapshot unless a newer
   * revision is already kept. Resolves once the records are durably archived. Reads the
   * snapshot's state before it returns: the caller may advance that state right after.
   */
  write(snapshot: SnapshotToWrite, forgetBefore: number): Promise<void>;
  /** The archived records of these commands of the stream (those it has). */
  recallCommands(streamId: string, commandIds: readonly string[]): Promise<readonly CommandRecord[]>;
}

export const SNAPSHOT_STORE = Symbol('SnapshotStore');

/** AccountState as JSON: its maps become arrays of entries (the commands' is empty in a snapshot). */
export interface SerializedAccountState extends Omit<AccountState, 'commands' | 'purchases' | 'heldPayments' | 'reservations'> {
  readonly commands: ReadonlyArray<readonly [string, StoredCommandRecord]>;
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

/**
 * A command record as stored. Records archived before summaries keep the whole event;
 * either form reads the same to either kind of process (a summary is a part of the event,
 * with every field an answer reads), so summaries took no new snapshot version.
 */
export type StoredCommandRecord = Omit<CommandRecord, 'event'> & { readonly event: AccountEvent | EventSummary };

/** A stored record as the state keeps it: whichever version wrote it, its event summarized. */
export const decodeCommandRecord = (stored: StoredCommandRecord): CommandRecord => ({ ...stored, event: summarizeEvent(stored.event) });

export const deserializeAccountState = (serialized: SerializedAccountState): AccountState => ({
  ...serialized,
  lots: [...serialized.lots],
  commands: new Map(serialized.commands.map(([id, record]) => [id, decodeCommandRecord(record)])),
  purchases: new Map(serialized.purchases),
  heldPayments: new Map(serialized.heldPayments),
  reservations: new Map(serialized.reservations),
});
