import type { RecordedEvent } from '../application/event-store.port';
import type { AccountEvent } from '../domain/account.events';
import { assertNever } from '../domain/account.state';
import { formatCents, formatCredits } from '../domain/money';
import type { CopyValue } from '../infrastructure/postgres/copy-text';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf, groupByAccount, type ProjectedEvent } from './account-events';
import { knownRows, type Projection, type RowMemo, type TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

export const TRANSACTION_TYPES = ['purchase', 'grant', 'usage', 'adjustment', 'refund', 'expiry'] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];

/** One line of an account's history: a signed amount and the balance after it. */
export interface TransactionRow {
  readonly accountId: string;
  readonly streamRevision: number;
  readonly id: string;
  readonly type: TransactionType;
  readonly creditsMillicredits: number;
  readonly balanceAfterMillicredits: number;
  readonly service: string | null;
  readonly quantity: number | null;
  readonly description: string;
  readonly occurredAt: string;
  readonly position: number;
}

type Entry = Pick<TransactionRow, 'id' | 'type' | 'creditsMillicredits' | 'service' | 'quantity' | 'description'>;

/** The history line an event makes; null for facts that move no credits. */
const entryOf = (event: AccountEvent): Entry | null => {
  switch (event.type) {
    case 'CreditsPurchased':
      return {
        id: event.data.lotId,
        type: 'purchase',
        creditsMillicredits: event.data.creditsMillicredits,
        service: null,
        quantity: null,
        description: `Purchased package ${event.data.packageId} (${formatCredits(event.data.creditsMillicredits)} credits)`,
      };
    case 'CreditsGranted':
      return { id: event.data.lotId, type: 'grant', creditsMillicredits: event.data.creditsMillicredits, service: null, quantity: null, description: event.data.reason };
    case 'CreditsUsed':
      return {
        id: event.data.usageId,
        type: 'usage',
        creditsMillicredits: -event.data.chargedMillicredits,
        service: event.data.service,
        quantity: event.data.quantity,
        description: `${event.data.service}: ${event.data.quantity} ${event.data.unit}${event.data.quantity === 1 ? '' : 's'}`,
      };
    case 'CreditsAdjusted':
      return { id: event.data.adjustmentId, type: 'adjustment', creditsMillicredits: event.data.creditsMillicredits, service: null, quantity: null, description: event.data.reason };
    case 'CreditsRefunded':
      return {
        id: `${event.data.paymentReference}:refund:${event.data.refundedCentsTotal}`,
        type: 'refund',
        creditsMillicredits: -event.data.creditsMillicredits,
        service: null,
        quantity: null,
        description: `Refund of payment ${event.data.paymentReference} (${formatCents(event.data.refundedCentsTotal)} refunded in all)`,
      };
    case 'ReservationCaptured':
      return {
        id: event.data.reservationId,
        type: 'usage',
        creditsMillicredits: -event.data.chargedMillicredits,
        service: event.data.service,
        quantity: event.data.quantity,
        description: `${event.data.service}: ${event.data.quantity} (reservation captured)`,
      };
    case 'CreditsExpired':
      return {
        id: `${event.data.lotId}:expired`,
        type: 'expiry',
        creditsMillicredits: -event.data.expiredMillicredits,
        service: null,
        quantity: null,
        description: `Unused granted credits expired at ${event.data.expiresAt}`,
      };
    case 'PaymentHeldForReview':
    case 'LowBalanceThresholdSet':
    case 'LowBalanceReached':
    case 'CreditsReserved':
    case 'ReservationReleased':
      return null;
    default:
      return assertNever(event);
  }
};

/** Where an account's history stands: its newest line's revision and balance after it. */
interface HistoryEnd {
  readonly revision: number;
  readonly balanceMillicredits: number;
}

const NO_HISTORY: HistoryEnd = { revision: -1, balanceMillicredits: 0 };

/** The rows an account's events add to its history, given its balance before them. */
export const transactionRows = (
  accountId: string,
  events: readonly ProjectedEvent[],
  before: HistoryEnd,
): TransactionRow[] => {
  let balance = before.balanceMillicredits;
  const rows: TransactionRow[] = [];
  for (const { event, streamRevision, position } of events) {
    if (streamRevision <= before.revision) continue;
    const entry = entryOf(event);
    if (entry === null) continue;
    balance += entry.creditsMillicredits;
    rows.push({
      accountId,
      streamRevision,
      id: entry.id,
      type: entry.type,
      creditsMillicredits: entry.creditsMillicredits,
      service: entry.service,
      quantity: entry.quantity,
      description: entry.description,
      balanceAfterMillicredits: balance,
      occurredAt: event.data.occurredAt,
      position,
    });
  }
  return rows;
};

const TRANSACTION_COLUMNS = [
  'account_id',
  'stream_revision',
  'id',
  'type',
  'credits',
  'balance_after',
  'service',
  'quantity',
  'description',
  'occurred_at',
  'position',
] as const;

const copyRowOf = (row: TransactionRow): CopyValue[] => [
  row.accountId,
  row.streamRevision,
  row.id,
  row.type,
  row.creditsMillicredits,
  row.balanceAfterMillicredits,
  row.service,
  row.quantity,
  row.description,
  row.occurredAt,
  row.position,
];

/** The transactions table, named through `table`. */
const transactionsTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('transactions'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        account_id text NOT NULL,
        stream_revision bigint NOT NULL,
        id text NOT NULL,
        type text NOT NULL,
        credits bigint NOT NULL,
        balance_after bigint NOT NULL,
        service text,
        quantity bigint,
        description text NOT NULL,
        occurred_at timestamptz NOT NULL,
        position bigint NOT NULL,
        PRIMARY KEY (account_id, stream_revision)
      )`,
    secondaryIndexes: [
      `CREATE INDEX ON ${name} (account_id, type, stream_revision DESC)`,
      `CREATE INDEX ON ${name} (account_id, occurred_at) WHERE type = 'usage'`,
    ],
  };
};

export const transactionsProjection: Projection = {
  name: 'transactions',
  tables: ['transactions'],
  remembersRows: true,

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    await createTableOnce(tx, transactionsTable(table), options);
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, transactionsTable(table));
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer, memo?: RowMemo) {
    const byAccount = groupByAccount(accountEventsOf(events));
    if (byAccount.size === 0) return;
    const name = identifier(table('transactions'));
    // Given a memo (a rebuild, or the live runner), each account's newest line is remembered
    // from the batch before, not read again.
    const ends = await knownRows(memo, byAccount.keys(), async (accountIds) => {
      const lasts = await tx.query<{ account_id: string; stream_revision: string; balance_after: string }>(
        // Each account's newest row through the primary key: one index probe per account, never
        // a read of the whole history (DISTINCT ON read every row of every account in the batch).
        // Qualified names: a bare ORDER BY stream_revision would sort the ::text output column.
        `SELECT a.account_id, t.stream_revision::text AS stream_revision, t.balance_after::text AS balance_after
           FROM unnest($1::text[]) AS a(account_id)
           CROSS JOIN LATERAL (SELECT l.stream_revision, l.balance_after FROM ${name} l
                                WHERE l.account_id = a.account_id ORDER BY l.stream_revision DESC LIMIT 1) AS t`,
        [accountIds],
      );
      return new Map(lasts.map((last): [string, HistoryEnd] => [last.account_id, { revision: Number(last.stream_revision), balanceMillicredits: Number(last.balance_after) }]));
    });
    const rows: TransactionRow[] = [];
    for (const [accountId, items] of byAccount) {
      const before = ends.get(accountId) ?? NO_HISTORY;
      const added = transactionRows(accountId, items, before);
      for (const row of added) rows.push(row);
      const newest = added.at(-1);
      if (memo !== undefined) memo.set(accountId, newest === undefined ? before : { revision: newest.streamRevision, balanceMillicredits: newest.balanceAfterMillicredits });
    }
    if (rows.length === 0) return;
    if (memo !== undefined) {
      // The memo's writer (a rebuild, or the live runner holding the lease) is the table's only
      // writer and adds only lines past the ones it remembers: COPY costs the server a fraction
      // of parsing the same rows out of JSON. Were a remembered line behind the table, a line
      // already there would fail the COPY, and with it the batch, which the runner then retries
      // from the table.
      await tx.copyRows(name, TRANSACTION_COLUMNS, rows.map(copyRowOf));
      return;
    }
    // json, not jsonb: Postgres reads each row once, so building jsonb's tree first only costs.
    await tx.query(
      `INSERT INTO ${name} (account_id, stream_revision, id, type, credits, balance_after, service, quantity, description, occurred_at, position)
       SELECT r."accountId", r."streamRevision", r.id, r.type, r."creditsMillicredits", r."balanceAfterMillicredits",
              r.service, r.quantity, r.description, r."occurredAt", r.position
         FROM json_to_recordset($1::json) AS r("accountId" text, "streamRevision" bigint, id text, type text,
              "creditsMillicredits" bigint, "balanceAfterMillicredits" bigint, service text, quantity bigint,
              description text, "occurredAt" timestamptz, position bigint)
       ON CONFLICT (account_id, stream_revision) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  },
};
