import { Client } from 'pg';
import { decodeAccountEvent } from '../../../src/application/accounts/account-event-codec';
import type { RecordedEvent } from '../../../src/application/event-store.port';
import type { AccountEvent } from '../../../src/domain/account.events';
import { availableMillicredits, evolve, initialAccountState, type AccountState } from '../../../src/domain/account.state';

/**
 * The event log as stored (`ledger_events`), read straight from Postgres, and the checks
 * every reliability suite makes of it: commands all-or-nothing, balances as a replay of
 * the log with the domain's own `evolve`, and the same balances by an independent sum.
 */
export interface StoredEvent {
  readonly position: bigint;
  readonly streamId: string;
  readonly streamRevision: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  readonly transactionId: string;
}

export const STREAM_PREFIX = 'credit-account-';

export const withPg = async <T>(url: string, work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};

export const readLog = (url: string): Promise<StoredEvent[]> =>
  withPg(url, async (client) => {
    const result = await client.query<{
      position: string;
      stream_id: string;
      stream_revision: string;
      type: string;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      transaction_id: string;
    }>(
      `SELECT position::text AS position, stream_id, stream_revision::text AS stream_revision, type, data, metadata,
              transaction_id::text AS transaction_id
         FROM ledger_events ORDER BY position`,
    );
    return result.rows.map((row) => ({
      position: BigInt(row.position),
      streamId: row.stream_id,
      streamRevision: Number(row.stream_revision),
      type: row.type,
      data: row.data,
      metadata: row.metadata,
      transactionId: row.transaction_id,
    }));
  });

export const countLog = (url: string): Promise<number> =>
  withPg(url, async (client) => Number((await client.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger_events')).rows[0]?.n));

export interface AccountReplay {
  readonly accountId: string;
  readonly state: AccountState;
  readonly balanceMillicredits: number;
  readonly availableMillicredits: number;
  /** The lowest `available` after any command of the account. */
  readonly lowestAvailableMillicredits: number;
}

const REPLAY_OPTIONS = { idempotencyRetentionMs: 24 * 60 * 60 * 1000 };

const toRecorded = (event: StoredEvent): RecordedEvent => ({
  eventId: String(event.position),
  type: event.type,
  data: event.data,
  metadata: event.metadata,
  streamId: event.streamId,
  streamRevision: event.streamRevision,
  position: event.position,
  recordedAt: new Date(0),
});

/** Events grouped by stream, in revision order; throws on a gap or a repeat in any stream's revisions. */
export const streamsOf = (log: readonly StoredEvent[]): Map<string, StoredEvent[]> => {
  const streams = new Map<string, StoredEvent[]>();
  for (const event of log) streams.set(event.streamId, [...(streams.get(event.streamId) ?? []), event]);
  for (const [streamId, events] of streams) {
    events.sort((a, b) => a.streamRevision - b.streamRevision);
    events.forEach((event, index) => {
      if (event.streamRevision !== index) throw new Error(`stream ${streamId}: revision ${event.streamRevision} at index ${index}`);
    });
  }
  return streams;
};

/**
 * Every command's events are all-or-nothing: per command id, one stream, one transaction,
 * consecutive revisions. Returns the problems found (none, for a pass).
 */
export const commandAtomicityProblems = (log: readonly StoredEvent[]): string[] => {
  const byCommand = new Map<string, StoredEvent[]>();
  for (const event of log) {
    const commandId = event.data['commandId'];
    if (typeof commandId !== 'string') return [`event at ${event.position} has no commandId`];
    const key = `${event.streamId}|${commandId}`;
    byCommand.set(key, [...(byCommand.get(key) ?? []), event]);
  }
  const problems: string[] = [];
  for (const [key, events] of byCommand) {
    const transactions = new Set(events.map((event) => event.transactionId));
    if (transactions.size !== 1) problems.push(`${key}: events in ${transactions.size} transactions`);
    const revisions = events.map((event) => event.streamRevision).sort((a, b) => a - b);
    if (revisions.some((revision, index) => index > 0 && revision !== (revisions[index - 1] ?? 0) + 1)) {
      problems.push(`${key}: revisions not consecutive (${revisions.join(',')})`);
    }
  }
  return problems;
};

/**
 * Replays each account with the domain's `evolve`, one command at a time, and checks what
 * a half-applied command would break: after each command `available` ≥ 0, and no
 * low-balance crossing is left without its LowBalanceReached (an alert armed while
 * `available` is below the threshold means the command's alert event is missing).
 */
export const replayAccounts = (log: readonly StoredEvent[]): { accounts: Map<string, AccountReplay>; problems: string[] } => {
  const accounts = new Map<string, AccountReplay>();
  const problems: string[] = [];
  for (const [streamId, events] of streamsOf(log)) {
    if (!streamId.startsWith(STREAM_PREFIX)) continue;
    const accountId = streamId.slice(STREAM_PREFIX.length);
    let state = initialAccountState;
    let lowest = Number.POSITIVE_INFINITY;
    events.forEach((stored, index) => {
      const event: AccountEvent = decodeAccountEvent(toRecorded(stored));
      state = evolve(state, event, Number(stored.position), REPLAY_OPTIONS);
      const next = events[index + 1];
      const commandEnds = next === undefined || next.data['commandId'] !== stored.data['commandId'];
      if (!commandEnds) return;
      const available = availableMillicredits(state);
      lowest = Math.min(lowest, state.balanceMillicredits - state.reservedMillicredits);
      if (state.lowBalanceArmed && available < state.lowBalanceThresholdMillicredits) {
        problems.push(`${accountId}: command ${String(stored.data['commandId'])} crossed the threshold without its LowBalanceReached`);
      }
    });
    accounts.set(accountId, {
      accountId,
      state,
      balanceMillicredits: state.balanceMillicredits,
      availableMillicredits: availableMillicredits(state),
      lowestAvailableMillicredits: lowest,
    });
  }
  return { accounts, problems };
};

const numberField = (event: StoredEvent, field: string): number => {
  const value = event.data[field];
  if (typeof value !== 'number') throw new Error(`${event.type} at ${event.position}: ${field} is not a number`);
  return value;
};

/**
 * The balance of each account by plain addition over the events that move credits,
 * independent of the domain code. Only for logs of grants, spends, adjustments, purchases,
 * refunds and captures (throws on expiries: they need lot bookkeeping).
 */
export const summedBalances = (log: readonly StoredEvent[]): Map<string, number> => {
  const balances = new Map<string, number>();
  const add = (event: StoredEvent, amount: number) => {
    const accountId = event.streamId.slice(STREAM_PREFIX.length);
    balances.set(accountId, (balances.get(accountId) ?? 0) + amount);
  };
  for (const event of log) {
    if (!event.streamId.startsWith(STREAM_PREFIX)) continue;
    switch (event.type) {
      case 'CreditsGranted':
      case 'CreditsPurchased':
      case 'CreditsAdjusted':
        add(event, numberField(event, 'creditsMillicredits'));
        break;
      case 'CreditsUsed':
      case 'ReservationCaptured':
        add(event, -numberField(event, 'chargedMillicredits'));
        break;
      case 'CreditsRefunded':
        add(event, -numberField(event, 'creditsMillicredits'));
        break;
      case 'CreditsExpired':
        throw new Error('summedBalances does not handle expiries');
      default:
        add(event, 0);
    }
  }
  return balances;
};

/** "12.345" → 12345 millicredits. */
export const millicreditsOf = (credits: string): number => {
  const match = /^(-?)(\d+)\.(\d{3})$/.exec(credits);
  if (match === null) throw new Error(`not a credit amount: ${credits}`);
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 1000 + Number(match[3]));
};
