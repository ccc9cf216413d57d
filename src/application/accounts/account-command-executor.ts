import { Inject, Injectable, Optional } from '@nestjs/common';
import type { AccountCommand } from '../../domain/account.commands';
import { decide, type Decision } from '../../domain/account.decider';
import { advance, forgetCommand, recallCommand, settleCommandPosition, workingCopy, type CommandRecord, type WorkingState } from '../../domain/account.state';
import type { LedgerError } from '../../domain/ledger-error';
import { EVENT_STORE, type AppendRequest, type BatchAppendOutcome, type EventStore, type ExpectedRevision } from '../event-store.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { positionNumber } from './account-event-codec';
import { AccountRepository, releaseArchived, type LoadedAccount, type SavedSnapshot } from './account-repository';
import { archiveKey, type ArchivedCommandIndex } from './archived-commands';
import { isOneOffCommand } from './command-input';
import { storedHash } from './event-chain';
import { COMMAND_OBSERVER, type CommandObserver } from './command-observer.port';

const MAX_BACKOFF_MS = 100;
/** Batches written at once: their commits overlap, and a slow one holds up only its own accounts. */
const MAX_BATCHES_IN_FLIGHT = 4;

/**
 * Events between snapshots. A snapshot writes the records taken since the last one (one
 * per command, so in proportion to the events) and the rest of the state whole: a state
 * with many lots, reservations or purchases is kept less often, so either way a snapshot
 * costs O(1) per event, and the records held in memory stay about one interval's worth.
 */
const snapshotInterval = (state: WorkingState, everyEvents: number): number =>
  Math.max(everyEvents, state.lots.length + state.reservations.size + state.purchases.size + state.heldPayments.size);

/**
 * While the cached accounts together hold more than `unarchivedEventsBudget` events since
 * their snapshots (counting only commands whose records the state keeps), an account is
 * snapshotted as soon as it has this many (or its state's size, if larger, as for the
 * regular interval): memory stays within about the budget plus this many per cached account.
 */
export const EARLY_SNAPSHOT_EVENTS = 32;

export type CommandOutcome =
  | { readonly status: 'applied' | 'replayed'; readonly record: CommandRecord }
  | { readonly status: 'unchanged' }
  | { readonly status: 'rejected'; readonly error: LedgerError };

/** Every attempt conflicted with another writer: safe to retry, answered as 503. */
export class ConcurrencyExhaustedError extends Error {
  override readonly name = 'ConcurrencyExhaustedError';
}

interface Pending {
  readonly command: AccountCommand;
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: unknown) => void;
  attempts: number;
}

/** An account as the writer holds it: a working state it alone advances, at a known revision. */
interface CachedAccount {
  readonly working: WorkingState;
  expectedRevision: ExpectedRevision;
  lastHash: string;
  position: number;
  eventsSinceSnapshot: number;
  /**
   * Of those, the events of commands whose records the state keeps (all but one-off
   * commands, whose records go once answered): what the unarchived budget counts.
   */
  heldSinceSnapshot: number;
  /** Commands of the idempotency window whose records the snapshot store keeps: archiveKey(id) → recorded at (ms). */
  readonly archived: ArchivedCommandIndex;
  /**
   * Snapshots written since the account's last batch began: their records leave the working
   * state only when the next batch begins, never between its recall and its decisions.
   */
  readonly saved: SavedSnapshot[];
}

/** What one batch does to one account: its decisions and the events they append. */
interface AccountPlan {
  readonly accountId: string;
  readonly cached: CachedAccount;
  readonly decided: ReadonlyArray<{ readonly pending: Pending; readonly decision: Decision }>;
  /** Commands that appended events, with the index of their last event in the request. */
  readonly applied: ReadonlyArray<{ readonly commandId: string; readonly lastEvent: number }>;
  readonly request: AppendRequest | undefined;
}

/**
 * The write path: one writer per process, and within it one logical writer per account.
 *
 * Commands queue up while batches are being written (at most MAX_BATCHES_IN_FLIGHT at
 * once, over disjoint accounts). The next batch takes up to `maxBatchCommands` of them,
 * decides each against its account's cached state (advanced in place, so a hot account's
 * commands see each other), and appends the events of
 * every account in one `appendBatch`: one round trip and, on PostgreSQL, one commit.
 * Answers go out only after that commit, so nothing is acknowledged that is not
 * durable and no decision rests on a state that did not commit.
 *
 * Other processes are settled by the expected revision: an account whose stream moved
 * is dropped from the cache and its commands are decided again from a fresh load, a
 * bounded number of times. A batch that produced only refusals checks the revision
 * first, so a stale cache never refuses what another process made possible.
 */
@Injectable()
export class AccountCommandExecutor {
  private readonly cache = new Map<string, CachedAccount>();
  private readonly queue: Pending[] = [];
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private scheduled = false;
  private lastStartedAt = 0;
  private overlapTimer: ReturnType<typeof setTimeout> | undefined;
  /** Sum of the cached accounts' heldSinceSnapshot: roughly the command records held in memory. */
  private unarchived = 0;

  constructor(
    private readonly accounts: AccountRepository,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
    @Optional() @Inject(COMMAND_OBSERVER) private readonly observer?: CommandObserver,
  ) {}

  execute(command: AccountCommand): Promise<CommandOutcome> {
    const outcome = new Promise<CommandOutcome>((resolve, reject) => this.enqueue([{ command, resolve, reject, attempts: 0 }], false));
    void outcome.then((ended) => this.observer?.commandEnded(command.type, ended), () => this.observer?.commandEnded(command.type, 'failed'));
    return outcome;
  }

  /** Accounts whose state is held in memory. */
  get cachedAccounts(): number {
    return this.cache.size;
  }

  /** Events applied since their account's last snapshot whose records are held, over the cached accounts (see unarchivedEventsBudget). */
  get unarchivedEvents(): number {
    return this.unarchived;
  }

  /** Command records the cached accounts' working states hold now (a diagnostic: it visits every account). */
  heldRecords(): number {
    let records = 0;
    for (const cached of this.cache.values()) records += cached.working.commands.size;
    return records;
  }

  private enqueue(pending: readonly Pending[], first: boolean): void {
    if (first) this.queue.unshift(...pending);
    else this.queue.push(...pending);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // One turn of the event loop lets the commands that arrive together form one batch.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /**
   * Starts batches while fewer than MAX_BATCHES_IN_FLIGHT are being written, a further one
   * only once the newest in flight has run `batchOverlapMs` (see LedgerSettings). A batch takes
   * only commands of accounts no batch in flight holds (each account keeps one writer and
   * its order); so one slow commit holds up its own accounts, not every account.
   */
  private pump(): void {
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.queue.length > 0) {
      if (this.inFlight > 0) {
        const wait = this.lastStartedAt + this.settings.batchOverlapMs - performance.now();
        if (wait > 0) {
          this.overlapTimer ??= setTimeout(() => {
            this.overlapTimer = undefined;
            this.pump();
          }, wait);
          return;
        }
      }
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      const accounts = new Set(batch.map((pending) => pending.command.accountId));
      for (const accountId of accounts) this.busy.add(accountId);
      this.inFlight += 1;
      this.lastStartedAt = performance.now();
      void this.runBatch(batch, () => {
        this.inFlight -= 1;
        if (this.inFlight === 0 && this.overlapTimer !== undefined) {
          clearTimeout(this.overlapTimer);
          this.overlapTimer = undefined;
        }
        for (const accountId of accounts) {
          this.busy.delete(accountId);
          // Snapshots written while the batch held the account: its records may leave now.
          const cached = this.cache.get(accountId);
          if (cached !== undefined) releaseSaved(cached);
        }
        // At once, not on the next turn: a hot account's next batch goes to the store before
        // the answers of this one are written.
        if (this.queue.length > 0) this.pump();
      });
    }
  }

  /** Up to maxBatchCommands queued commands of idle accounts, in queue order; the rest stay queued in order. */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const kept: Pending[] = [];
    for (const pending of this.queue) {
      if (batch.length < this.settings.maxBatchCommands && !this.busy.has(pending.command.accountId)) batch.push(pending);
      else kept.push(pending);
    }
    this.queue.length = 0;
    for (const pending of kept) this.queue.push(pending);
    return batch;
  }

  /**
   * Settles every command of the batch, then calls `ended` in the same synchronous stretch
   * (before any answer's continuation runs); never throws.
   */
  private async runBatch(batch: readonly Pending[], ended: () => void): Promise<void> {
    try {
      await this.decideAndAppend(batch);
    } finally {
      ended();
    }
  }

  private async decideAndAppend(batch: readonly Pending[]): Promise<void> {
    const byAccount = new Map<string, Pending[]>();
    for (const pending of batch) {
      const list = byAccount.get(pending.command.accountId) ?? [];
      list.push(pending);
      byAccount.set(pending.command.accountId, list);
    }
    const plans: AccountPlan[] = [];
    await Promise.all(
      [...byAccount].map(async ([accountId, pendings]) => {
        try {
          const cached = await this.cached(accountId);
          await this.recall(accountId, cached, pendings);
          plans.push(this.plan(accountId, cached, pendings));
        } catch (error) {
          this.evict(accountId);
          for (const pending of pendings) pending.reject(error);
        }
      }),
    );
    try {
      // Checked before the append: if the check fails, nothing of the batch was written.
      const fresh = await this.freshness(plans);
      const outcomes = await this.store.appendBatch(plans.flatMap((plan) => (plan.request === undefined ? [] : [plan.request])));
      let next = 0;
      for (const plan of plans) {
        const outcome = plan.request === undefined ? undefined : outcomes[next++];
        this.settle(plan, outcome, fresh.get(plan.accountId) ?? true);
      }
    } catch (error) {
      for (const plan of plans) {
        // The append may or may not have committed: the next command reloads the account.
        this.evict(plan.accountId);
        for (const { pending } of plan.decided) pending.reject(error);
      }
    }
  }

  private async cached(accountId: string): Promise<CachedAccount> {
    const hit = this.cache.get(accountId);
    if (hit !== undefined) {
      // Most recently used last: the first entry is the one to evict.
      this.cache.delete(accountId);
      this.cache.set(accountId, hit);
      return hit;
    }
    const loaded: LoadedAccount = await this.accounts.load(accountId);
    const working = workingCopy(loaded.state);
    // Records of one-off commands the load rebuilt from the log: none of them can come again.
    let dropped = 0;
    for (const commandId of working.commands.keys()) {
      if (!isOneOffCommand(commandId)) continue;
      forgetCommand(working, commandId);
      dropped += 1;
    }
    const cached: CachedAccount = {
      working,
      expectedRevision: loaded.expectedRevision,
      lastHash: loaded.lastHash,
      position: loaded.position,
      eventsSinceSnapshot: loaded.eventsSinceSnapshot,
      // At least one event per dropped record: an estimate from above, as the budget wants.
      heldSinceSnapshot: Math.max(0, loaded.eventsSinceSnapshot - dropped),
      archived: loaded.archivedCommands.copy(),
      saved: [],
    };
    this.cache.set(accountId, cached);
    this.unarchived += cached.heldSinceSnapshot;
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= this.settings.accountCacheSize) break;
      this.evict(oldest);
    }
    // A loaded account may bring many events since its snapshot and then append nothing.
    this.snapshotIfDue(accountId, cached);
    return cached;
  }

  /** Drops an account from the cache, and its events from the count (an evicted account no longer counts). */
  private evict(accountId: string): void {
    const cached = this.cache.get(accountId);
    if (cached === undefined) return;
    this.unarchived -= cached.heldSinceSnapshot;
    this.cache.delete(accountId);
  }

  /** Whether this is the account's entry in the cache (a batch may still settle an evicted one). */
  private isCached(accountId: string, cached: CachedAccount): boolean {
    return this.cache.get(accountId) === cached;
  }

  /**
   * Brings back the archived records of the commands about to be decided that may repeat
   * one inside the window; a record the archive should hold but does not is an error,
   * never a reason to apply the command a second time.
   */
  private async recall(accountId: string, cached: CachedAccount, pendings: readonly Pending[]): Promise<void> {
    // In the same synchronous stretch as the check below: a record is either still in the
    // working state or known to be archived, never neither.
    releaseSaved(cached);
    if (cached.archived.size === 0) return;
    const wanted = new Set<string>();
    for (const { command } of pendings) {
      // A one-off command is new by construction: nothing of it can be in the archive.
      if (isOneOffCommand(command.commandId) || cached.working.commands.has(command.commandId)) continue;
      const recordedAt = cached.archived.recordedAt(archiveKey(command.commandId));
      if (recordedAt === undefined) continue;
      if (recordedAt >= Date.parse(command.now) - this.settings.idempotencyRetentionMs) wanted.add(command.commandId);
    }
    if (wanted.size === 0) return;
    const records = await this.accounts.recallCommands(accountId, [...wanted]);
    // The keys stay in the index: another archived id may share one, and the record back
    // in the working state is found there first anyway.
    for (const record of records) recallCommand(cached.working, record);
    // A record the archive lost, or (about 1 in 2^53 / window) a new id sharing an archived one's key.
    const found = new Set(records.map((record) => record.commandId));
    const missing = [...wanted].filter((commandId) => !found.has(commandId));
    if (missing.length > 0) throw new Error(`account ${accountId}: the archived records of ${missing.join(', ')} are missing`);
  }

  /** Decides the account's commands in order, each against the state the ones before it left. */
  private plan(accountId: string, cached: CachedAccount, pendings: readonly Pending[]): AccountPlan {
    const options = { idempotencyRetentionMs: this.settings.idempotencyRetentionMs };
    const decided: Array<{ pending: Pending; decision: Decision }> = [];
    const applied: Array<{ commandId: string; lastEvent: number }> = [];
    const events = [];
    for (const pending of pendings) {
      const decision = decide(pending.command, cached.working, this.settings);
      decided.push({ pending, decision });
      if (decision.status !== 'accepted') continue;
      // Until the store assigns positions the records carry the last known one; settle() fixes them.
      advance(cached.working, decision.events.map((event) => ({ event, position: cached.position })), options);
      events.push(...decision.events);
      applied.push({ commandId: pending.command.commandId, lastEvent: events.length - 1 });
    }
    const request = events.length === 0 ? undefined : this.accounts.appendRequest(accountId, events, cached.expectedRevision, cached.lastHash);
    return { accountId, cached, decided, applied, request };
  }

  /** Accounts that appended nothing answered from the cache: is each cache still current? */
  private async freshness(plans: readonly AccountPlan[]): Promise<Map<string, boolean>> {
    const readOnly = plans.filter((plan) => plan.request === undefined && plan.decided.some(({ decision }) => decision.status !== 'replayed'));
    const moved = await Promise.all(readOnly.map((plan) => this.accounts.movedPast(plan.accountId, plan.cached.expectedRevision)));
    return new Map(readOnly.map((plan, index) => [plan.accountId, !moved[index]]));
  }

  private settle(plan: AccountPlan, outcome: BatchAppendOutcome | undefined, fresh: boolean): void {
    const { cached } = plan;
    if ((plan.request !== undefined && outcome?.ok !== true) || !fresh) {
      // Another process wrote the account: decide these commands again from a fresh load.
      this.evict(plan.accountId);
      this.retry(plan.decided.map(({ pending }) => pending));
      return;
    }
    const appended = outcome?.ok === true && plan.request !== undefined;
    if (appended) {
      for (const { commandId, lastEvent } of plan.applied) {
        settleCommandPosition(cached.working, commandId, positionNumber(outcome.positions[lastEvent] ?? outcome.position));
      }
      cached.expectedRevision = outcome.nextExpectedRevision;
      cached.position = positionNumber(outcome.position);
      cached.lastHash = storedHash(plan.request.events.at(-1) ?? { metadata: {} }) ?? cached.lastHash;
      cached.eventsSinceSnapshot += plan.request.events.length;
      const held = heldEvents(plan.applied);
      cached.heldSinceSnapshot += held;
      if (this.isCached(plan.accountId, cached)) this.unarchived += held;
    }
    const answered = plan.decided.map(({ pending, decision }) => ({ pending, answer: this.outcomeOf(decision, cached, pending.command.commandId) }));
    if (appended) {
      // Answered now, and a one-off command never comes again: its record would only sit in
      // the heap (for every major GC to mark) and in the snapshot's archive until forgotten.
      for (const { commandId } of plan.applied) if (isOneOffCommand(commandId)) forgetCommand(cached.working, commandId);
      this.snapshotIfDue(plan.accountId, cached);
    }
    for (const { pending, answer } of answered) pending.resolve(answer);
  }

  private outcomeOf(decision: Decision, cached: CachedAccount, commandId: string): CommandOutcome {
    switch (decision.status) {
      case 'accepted':
      case 'replayed': {
        // Replays of a command applied earlier in the same batch get its settled record too.
        const record = cached.working.commands.get(commandId) ?? (decision.status === 'replayed' ? decision.record : undefined);
        if (record === undefined) throw new Error(`command ${commandId} left no record`);
        return { status: decision.status === 'accepted' ? 'applied' : 'replayed', record };
      }
      case 'unchanged':
      case 'rejected':
        return decision;
    }
  }

  private retry(pendings: readonly Pending[]): void {
    const again: Pending[] = [];
    for (const pending of pendings) {
      pending.attempts += 1;
      if (pending.attempts < this.settings.maxAppendAttempts) again.push(pending);
      else pending.reject(new ConcurrencyExhaustedError(`account ${pending.command.accountId}: ${pending.attempts} conflicting attempts`));
    }
    if (again.length === 0) return;
    const attempts = again[0]?.attempts ?? 1;
    // Back off a random while so two processes writing one account stop colliding.
    setTimeout(() => this.enqueue(again, true), Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempts));
  }

  /**
   * At the account's snapshot interval, or, while the cached accounts are over their budget,
   * once it holds the records of EARLY_SNAPSHOT_EVENTS events (an account whose commands
   * keep no records has nothing to archive early).
   */
  private snapshotIfDue(accountId: string, cached: CachedAccount): void {
    const early = this.unarchived > this.settings.unarchivedEventsBudget && cached.heldSinceSnapshot >= snapshotInterval(cached.working, EARLY_SNAPSHOT_EVENTS);
    if (early || cached.eventsSinceSnapshot >= snapshotInterval(cached.working, this.settings.snapshotEveryEvents)) this.snapshot(accountId, cached);
  }

  /**
   * The store reads the state now, while it is still at this revision (SnapshotStore.write),
   * and writes it in the background; once its records are archived they leave the cached state at once if no
   * batch holds the account, else when that batch ends or the next one begins (unless a
   * newer record of the same command took their place meanwhile).
   */
  private snapshot(accountId: string, cached: CachedAccount): void {
    if (this.isCached(accountId, cached)) this.unarchived -= cached.heldSinceSnapshot;
    cached.eventsSinceSnapshot = 0;
    cached.heldSinceSnapshot = 0;
    void this.accounts
      .saveSnapshot(accountId, {
        state: cached.working,
        expectedRevision: cached.expectedRevision,
        position: cached.position,
        lastHash: cached.lastHash,
      })
      .then((saved) => {
        if (saved === undefined) return;
        cached.saved.push(saved);
        // An account no batch holds has no recall waiting on its decisions: release now,
        // so an account that goes quiet does not keep archived records in memory.
        if (!this.busy.has(accountId)) releaseSaved(cached);
      });
  }
}

/** Events of the applied commands whose records the state keeps: one-off commands' records go once answered. */
const heldEvents = (applied: AccountPlan['applied']): number => {
  let held = 0;
  let previous = -1;
  for (const { commandId, lastEvent } of applied) {
    if (!isOneOffCommand(commandId)) held += lastEvent - previous;
    previous = lastEvent;
  }
  return held;
};

/** The records of the account's written snapshots leave its working state for its archived index. */
const releaseSaved = (cached: CachedAccount): void => {
  for (const saved of cached.saved.splice(0)) releaseArchived(cached.working, cached.archived, saved);
};
