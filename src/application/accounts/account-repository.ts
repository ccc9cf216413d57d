import { Inject, Injectable, Optional } from '@nestjs/common';
import { accountStreamId, type AccountEvent } from '../../domain/account.events';
import {
  advance,
  initialAccountState,
  releaseCommand,
  workingCopy,
  type AccountState,
  type CommandRecord,
  type WorkingState,
} from '../../domain/account.state';
import { ID_GENERATOR, type IdGenerator } from '../clock.port';
import { EVENT_STORE, type AppendRequest, type AppendResult, type EventStore, type ExpectedRevision, type RecordedEvent } from '../event-store.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { decodeAccountEvent, encodeAccountEvent, positionNumber } from './account-event-codec';
import { SNAPSHOT_STORE, type SnapshotStore } from './account-snapshot';
import { archiveKey, ArchivedCommandIndex, type ArchivedCommands } from './archived-commands';
import { chainEvents, GENESIS_HASH, storedHash } from './event-chain';

export interface LoadedAccount {
  readonly state: AccountState;
  readonly expectedRevision: ExpectedRevision;
  /** Global position of the stream's last event; 0 for a stream never written. */
  readonly position: number;
  /** Hash of the stream's last event: the next event links to it. */
  readonly lastHash: string;
  /** Events replayed on top of the snapshot (or from the start): how stale the snapshot is. */
  readonly eventsSinceSnapshot: number;
  /** Commands of the idempotency window whose records the snapshot store keeps, not the state. */
  readonly archivedCommands: ArchivedCommands;
}

/**
 * Archived records are forgotten this long after the window closes on them, so a process
 * whose clock runs a little behind never looks for a record another one already forgot.
 */
const ARCHIVE_GRACE_MS = 60 * 60 * 1000;

const NEVER_WRITTEN: LoadedAccount = {
  state: initialAccountState,
  expectedRevision: 'no_stream',
  position: 0,
  lastHash: GENESIS_HASH,
  eventsSinceSnapshot: 0,
  archivedCommands: ArchivedCommandIndex.empty(),
};

/** The revision the next event of a stream gets. */
export const nextRevision = (expected: ExpectedRevision): number => (typeof expected === 'number' ? expected + 1 : 0);

@Injectable()
export class AccountRepository {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
    @Optional() @Inject(SNAPSHOT_STORE) private readonly snapshots: SnapshotStore | null = null,
  ) {}

  /** The account's current state: its newest snapshot, then the events after it. */
  async load(accountId: string): Promise<LoadedAccount> {
    const streamId = accountStreamId(accountId);
    const snapshot = await this.snapshots?.read(streamId);
    const start: LoadedAccount =
      snapshot === undefined
        ? NEVER_WRITTEN
        : {
            state: snapshot.state,
            expectedRevision: snapshot.revision,
            position: snapshot.position,
            lastHash: snapshot.lastHash,
            eventsSinceSnapshot: 0,
            archivedCommands: snapshot.archivedCommands,
          };
    const loaded = await this.replay(streamId, start);
    if (loaded.eventsSinceSnapshot < this.settings.snapshotEveryEvents) return loaded;
    const archived = loaded.archivedCommands.copy();
    const working = workingCopy(loaded.state);
    const saved = await this.saveSnapshot(accountId, loaded);
    releaseArchived(working, archived, saved);
    return { ...loaded, state: working, archivedCommands: archived };
  }

  /**
   * Keeps a snapshot of a state (read before this returns: SnapshotStore.write reads it at
   * once, so the caller may advance it right after) and archives its command records.
   * Resolves to what was archived: undefined when there is no snapshot store or the write
   * failed, which only means a longer next load. Archived records older than the window (by the newest record
   * archived now) are forgotten.
   */
  async saveSnapshot(accountId: string, account: SnapshotSource): Promise<SavedSnapshot | undefined> {
    if (this.snapshots === null || typeof account.expectedRevision !== 'number') return undefined;
    const records = [...account.state.commands.values()];
    let newest = Number.NEGATIVE_INFINITY;
    for (const record of records) newest = Math.max(newest, Date.parse(record.recordedAt));
    const forgetBefore = newest - this.settings.idempotencyRetentionMs - ARCHIVE_GRACE_MS;
    try {
      await this.snapshots.write(
        {
          streamId: accountStreamId(accountId),
          revision: account.expectedRevision,
          position: account.position,
          lastHash: account.lastHash,
          state: account.state,
        },
        forgetBefore,
      );
      return { records, forgetBefore };
    } catch {
      return undefined;
    }
  }

  /** The archived records of these commands of the account, each as it was answered. */
  async recallCommands(accountId: string, commandIds: readonly string[]): Promise<readonly CommandRecord[]> {
    if (this.snapshots === null || commandIds.length === 0) return [];
    return this.snapshots.recallCommands(accountStreamId(accountId), commandIds);
  }

  /** The events of a stream as an append request, chained onto the stream's last event. */
  appendRequest(accountId: string, events: readonly AccountEvent[], expected: ExpectedRevision, prevHash: string): AppendRequest {
    const streamId = accountStreamId(accountId);
    const encoded = events.map((event) => encodeAccountEvent(event, this.ids.next()));
    return { streamId, events: chainEvents(streamId, nextRevision(expected), prevHash, encoded), expected };
  }

  /** One account's append on its own; the write path batches through appendRequest instead. */
  async append(
    accountId: string,
    events: readonly AccountEvent[],
    expected: ExpectedRevision,
    prevHash: string,
  ): Promise<AppendResult & { readonly lastHash: string }> {
    const request = this.appendRequest(accountId, events, expected, prevHash);
    const result = await this.store.append(request.streamId, request.events, request.expected);
    return { ...result, lastHash: storedHash(request.events.at(-1) ?? { metadata: {} }) ?? prevHash };
  }

  /** Whether the stream has moved past the revision a cached state was built at. */
  async movedPast(accountId: string, expected: ExpectedRevision): Promise<boolean> {
    const next = await this.store.readStream(accountStreamId(accountId), nextRevision(expected), 1);
    return next.length > 0;
  }

  /** Applies the stream after `start` to one private copy, in place: each page costs only its events. */
  private async replay(streamId: string, start: LoadedAccount): Promise<LoadedAccount> {
    const options = { idempotencyRetentionMs: this.settings.idempotencyRetentionMs };
    let working: WorkingState | undefined;
    let loaded = start;
    for (let revision = nextRevision(start.expectedRevision); ; ) {
      const page = await this.store.readStream(streamId, revision, this.settings.streamPageSize);
      const last = page.at(-1);
      if (last === undefined) return loaded;
      working ??= workingCopy(start.state);
      advance(working, page.map(decoded), options);
      loaded = {
        ...loaded,
        state: working,
        expectedRevision: last.streamRevision,
        position: positionNumber(last.position),
        // An event stored before hash chains links from the start: the audit reports it.
        lastHash: storedHash(last) ?? GENESIS_HASH,
        eventsSinceSnapshot: loaded.eventsSinceSnapshot + page.length,
      };
      if (page.length < this.settings.streamPageSize) return loaded;
      revision = last.streamRevision + 1;
    }
  }
}

/** What a snapshot is taken of. */
export type SnapshotSource = Pick<LoadedAccount, 'state' | 'expectedRevision' | 'position' | 'lastHash'>;

export interface SavedSnapshot {
  /** The command records the snapshot archived. */
  readonly records: readonly CommandRecord[];
  /** Archived commands recorded before this instant (epoch ms) were forgotten. */
  readonly forgetBefore: number;
}

/**
 * After a snapshot: the records it archived leave the working state for the index of
 * archived commands, and ids the archive forgot leave the index.
 */
export const releaseArchived = (working: WorkingState, archived: ArchivedCommandIndex, saved: SavedSnapshot | undefined): void => {
  if (saved === undefined) return;
  // Ids go in as their records are archived, oldest first: the forgotten ones are at the front.
  archived.forgetRecordedBefore(saved.forgetBefore);
  for (const record of saved.records) {
    // Added last (moved there if it was in), keeping the index oldest-first.
    if (releaseCommand(working, record)) archived.add(archiveKey(record.commandId), Date.parse(record.recordedAt));
  }
};

const decoded = (recorded: RecordedEvent) => ({ event: decodeAccountEvent(recorded), position: positionNumber(recorded.position) });
