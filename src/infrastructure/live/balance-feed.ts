import type { EventStore, RecordedEvent } from '../../application/event-store.port';
import type { ProjectionProgress, ReadModels } from '../../application/read-models.port';
import { positionNumber } from '../../application/accounts/account-event-codec';
import { abortablePause } from '../abortable-pause';

export interface LiveMessage {
  readonly event: 'balance' | 'low_balance';
  /** The log position the message reflects: the SSE id a client resumes from. */
  readonly id: number;
  readonly data: Readonly<Record<string, unknown>>;
}

export type Listener = (message: LiveMessage) => void;

const ACCOUNT_STREAM = /^credit-account-(.+)$/;
const READ_MODEL_WAIT_MS = 5000;

/**
 * One subscription to the log for the whole process, fanned out to the accounts that
 * have listeners: an idle listener costs an entry in a map. After each event of a
 * watched account, once the balances read model has applied it, its listeners get the
 * new balance; a LowBalanceReached also sends `low_balance`. The subscription runs only
 * while someone listens: with nobody to tell, reading every event of the log is waste
 * (it was most of the log reads a busy service made).
 */
export class BalanceFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private following: { readonly stop: AbortController; readonly done: Promise<void> } | undefined;
  private stopped = false;

  constructor(
    private readonly store: EventStore,
    private readonly readModels: ReadModels,
    private readonly progress: ProjectionProgress,
    private readonly render: (accountId: string) => Promise<Readonly<Record<string, unknown>>>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Listeners get what happens after this (the log from its head now on). */
  listen(accountId: string, listener: Listener): () => void {
    if (this.following === undefined && !this.stopped) {
      const stop = new AbortController();
      this.following = { stop, done: this.follow(stop.signal) };
    }
    const set = this.listeners.get(accountId) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(accountId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(accountId);
      if (this.listeners.size === 0) this.unfollow();
    };
  }

  /** Whether the feed reads the log now: only while someone listens. */
  get active(): boolean {
    return this.following !== undefined;
  }

  get listenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.unfollow();
  }

  private unfollow(): Promise<void> {
    const following = this.following;
    if (following === undefined) return Promise.resolve();
    this.following = undefined;
    following.stop.abort();
    return following.done;
  }

  /** The account's balance now, as the first message of a stream. */
  async snapshot(accountId: string): Promise<LiveMessage> {
    const view = await this.readModels.balance(accountId);
    return { event: 'balance', id: view.position, data: await this.render(accountId) };
  }

  /**
   * The read model may not yet hold events the feed has already passed (with no listener
   * then) when a stream opens: once it has caught up with the log as it stood at `since`'s
   * reading, the listener gets the balance again if it moved.
   */
  async catchUp(accountId: string, since: number, listener: Listener): Promise<void> {
    const head = await this.store.headPosition();
    if (head === null || positionNumber(head) <= since) return;
    if (!(await this.progress.waitFor(['balances'], positionNumber(head), READ_MODEL_WAIT_MS))) return;
    const now = await this.snapshot(accountId);
    if (now.id > since) listener(now);
  }

  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const head = await this.store.headPosition();
        for await (const recorded of this.store.subscribe({ after: head, signal })) await this.deliver(recorded);
      } catch (error) {
        if (signal.aborted) return;
        this.onError(error);
        await abortablePause(500, signal);
      }
    }
  }

  private async deliver(recorded: RecordedEvent): Promise<void> {
    const accountId = ACCOUNT_STREAM.exec(recorded.streamId)?.[1];
    if (accountId === undefined) return;
    const set = this.listeners.get(accountId);
    if (set === undefined) return;
    const position = positionNumber(recorded.position);
    if (recorded.type === 'LowBalanceReached') {
      const data = recorded.data as { alertId: string; thresholdMillicredits: number; availableMillicredits: number; occurredAt: string };
      this.send(set, { event: 'low_balance', id: position, data: { id: data.alertId, accountId, occurredAt: data.occurredAt } });
    }
    await this.progress.waitFor(['balances'], position, READ_MODEL_WAIT_MS);
    this.send(set, { event: 'balance', id: position, data: await this.render(accountId) });
  }

  private send(set: ReadonlySet<Listener>, message: LiveMessage): void {
    for (const listener of set) listener(message);
  }
}
