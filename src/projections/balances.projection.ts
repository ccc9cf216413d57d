import type { RecordedEvent } from '../application/event-store.port';
import type { AccountEvent, LotDraw } from '../domain/account.events';
import { assertNever, DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS } from '../domain/account.state';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf, groupByAccount, type ProjectedEvent } from './account-events';
import { knownRows, type Projection, type RowMemo, type TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

export interface BalanceLot {
  readonly lotId: string;
  readonly remainingMillicredits: number;
  readonly expiresAt: string | null;
}

export interface BalanceRow {
  readonly accountId: string;
  readonly balanceMillicredits: number;
  readonly reservedMillicredits: number;
  readonly totalPurchasedMillicredits: number;
  readonly totalGrantedMillicredits: number;
  readonly totalUsedMillicredits: number;
  readonly lots: readonly BalanceLot[];
  readonly lowBalanceThresholdMillicredits: number;
  readonly lastRevision: number;
  readonly lastPosition: number;
  readonly updatedAt: string;
}

export const emptyBalanceRow = (accountId: string): BalanceRow => ({
  accountId,
  balanceMillicredits: 0,
  reservedMillicredits: 0,
  totalPurchasedMillicredits: 0,
  totalGrantedMillicredits: 0,
  totalUsedMillicredits: 0,
  lots: [],
  lowBalanceThresholdMillicredits: DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS,
  lastRevision: -1,
  lastPosition: 0,
  updatedAt: new Date(0).toISOString(),
});

type LotDraft = { -readonly [K in keyof BalanceLot]: BalanceLot[K] };
/** A row being folded: a private copy (its lots too), changed in place, so each event costs only itself. */
type RowDraft = { -readonly [K in Exclude<keyof BalanceRow, 'lots'>]: BalanceRow[K] } & { lots: LotDraft[] };

const draftOf = (row: BalanceRow): RowDraft => ({ ...row, lots: row.lots.map((lot) => ({ ...lot })) });

const addLot = (row: RowDraft, lotId: string, millicredits: number, expiresAt: string | null): void => {
  row.balanceMillicredits += millicredits;
  row.lots.push({ lotId, remainingMillicredits: millicredits, expiresAt });
};

const takeDraws = (row: RowDraft, draws: readonly LotDraw[], millicredits: number): void => {
  row.balanceMillicredits -= millicredits;
  for (const draw of draws) {
    const index = row.lots.findIndex((lot) => lot.lotId === draw.lotId);
    const lot = row.lots[index];
    if (lot === undefined) continue;
    lot.remainingMillicredits -= draw.millicredits;
    if (lot.remainingMillicredits <= 0) row.lots.splice(index, 1);
  }
};

const applyEvent = (row: RowDraft, event: AccountEvent): void => {
  switch (event.type) {
    case 'CreditsPurchased': {
      const { lotId, creditsMillicredits, debtSettledMillicredits } = event.data;
      // Credits that pay off debt raise the balance without becoming a lot.
      const lotMillicredits = creditsMillicredits - debtSettledMillicredits;
      if (lotMillicredits > 0) addLot(row, lotId, lotMillicredits, null);
      row.balanceMillicredits += debtSettledMillicredits;
      row.totalPurchasedMillicredits += creditsMillicredits;
      return;
    }
    case 'CreditsRefunded': {
      const { draws, creditsMillicredits, debtIncurredMillicredits } = event.data;
      takeDraws(row, draws, creditsMillicredits - debtIncurredMillicredits);
      row.balanceMillicredits -= debtIncurredMillicredits;
      return;
    }
    case 'PaymentHeldForReview':
      return;
    case 'CreditsReserved':
      row.reservedMillicredits += event.data.reservedMillicredits;
      return;
    case 'ReservationCaptured': {
      const { draws, chargedMillicredits, reservedMillicredits } = event.data;
      takeDraws(row, draws, chargedMillicredits);
      row.reservedMillicredits -= reservedMillicredits;
      row.totalUsedMillicredits += chargedMillicredits;
      return;
    }
    case 'ReservationReleased':
      row.reservedMillicredits -= event.data.releasedMillicredits;
      return;
    case 'LowBalanceThresholdSet':
      row.lowBalanceThresholdMillicredits = event.data.thresholdMillicredits;
      return;
    case 'LowBalanceReached':
      return;
    case 'CreditsExpired':
      takeDraws(row, [{ lotId: event.data.lotId, millicredits: event.data.expiredMillicredits }], event.data.expiredMillicredits);
      return;
    case 'CreditsGranted': {
      const { lotId, creditsMillicredits, expiresAt } = event.data;
      addLot(row, lotId, creditsMillicredits, expiresAt);
      row.totalGrantedMillicredits += creditsMillicredits;
      return;
    }
    case 'CreditsUsed': {
      const { draws, chargedMillicredits } = event.data;
      takeDraws(row, draws, chargedMillicredits);
      row.totalUsedMillicredits += chargedMillicredits;
      return;
    }
    case 'CreditsAdjusted': {
      const { adjustmentId, creditsMillicredits, draws } = event.data;
      if (creditsMillicredits > 0) addLot(row, adjustmentId, creditsMillicredits, null);
      else takeDraws(row, draws, -creditsMillicredits);
      return;
    }
    default:
      return assertNever(event);
  }
};

/** A balance row after these events of its account, in order; an event at or before the row's revision is already in it. */
export const foldBalanceRow = (row: BalanceRow, events: readonly ProjectedEvent[]): BalanceRow => {
  const draft = draftOf(row);
  for (const { event, streamRevision, position } of events) {
    if (streamRevision <= draft.lastRevision) continue;
    applyEvent(draft, event);
    draft.lastRevision = streamRevision;
    draft.lastPosition = position;
    draft.updatedAt = event.data.occurredAt;
  }
  return draft;
};

interface BalanceRecord {
  readonly account_id: string;
  readonly balance: string;
  readonly reserved: string;
  readonly total_purchased: string;
  readonly total_granted: string;
  readonly total_used: string;
  readonly lots: BalanceLot[];
  readonly low_balance_threshold: string;
  readonly last_revision: string;
  readonly last_position: string;
  readonly updated_at: Date | string;
}

export const BALANCE_COLUMNS = `account_id, balance::text, reserved::text, total_purchased::text, total_granted::text,
  total_used::text, lots, low_balance_threshold::text, last_revision::text, last_position::text, updated_at`;

export const toBalanceRow = (record: BalanceRecord): BalanceRow => ({
  accountId: record.account_id,
  balanceMillicredits: Number(record.balance),
  reservedMillicredits: Number(record.reserved),
  totalPurchasedMillicredits: Number(record.total_purchased),
  totalGrantedMillicredits: Number(record.total_granted),
  totalUsedMillicredits: Number(record.total_used),
  lots: record.lots,
  lowBalanceThresholdMillicredits: Number(record.low_balance_threshold),
  lastRevision: Number(record.last_revision),
  lastPosition: Number(record.last_position),
  updatedAt: new Date(record.updated_at).toISOString(),
});

export const readBalanceRows = async (
  sql: SqlExecutor,
  table: string,
  accountIds: readonly string[],
): Promise<Map<string, BalanceRow>> => {
  const records = await sql.query<BalanceRecord>(
    `SELECT ${BALANCE_COLUMNS} FROM ${identifier(table)} WHERE account_id = ANY($1::text[])`,
    [accountIds],
  );
  return new Map(records.map((record) => [record.account_id, toBalanceRow(record)]));
};

/** The balances table: its primary key is its only index. */
const balancesTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('balances'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        account_id text PRIMARY KEY,
        balance bigint NOT NULL,
        reserved bigint NOT NULL,
        total_purchased bigint NOT NULL,
        total_granted bigint NOT NULL,
        total_used bigint NOT NULL,
        lots jsonb NOT NULL,
        low_balance_threshold bigint NOT NULL DEFAULT ${DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS},
        last_revision bigint NOT NULL,
        last_position bigint NOT NULL,
        updated_at timestamptz NOT NULL
      )`,
    secondaryIndexes: [],
  };
};

export const balancesProjection: Projection = {
  name: 'balances',
  tables: ['balances'],
  remembersRows: true,

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    const name = identifier(table('balances'));
    await createTableOnce(tx, balancesTable(table), options);
    // Tables made before thresholds were projected gain the column (rebuild to fill it from the log).
    await tx.query(
      `ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS low_balance_threshold bigint NOT NULL DEFAULT ${DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS}`,
    );
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, balancesTable(table));
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer, memo?: RowMemo) {
    const byAccount = groupByAccount(accountEventsOf(events));
    if (byAccount.size === 0) return;
    const name = table('balances');
    const current = await knownRows(memo, byAccount.keys(), (accountIds) => readBalanceRows(tx, name, accountIds));
    const rows = [...byAccount].map(([accountId, items]) => foldBalanceRow(current.get(accountId) ?? emptyBalanceRow(accountId), items));
    // Folding copies: a remembered row is never changed, only replaced.
    if (memo !== undefined) for (const row of rows) memo.set(row.accountId, row);
    await tx.query(
      `INSERT INTO ${identifier(name)} AS b
         (account_id, balance, reserved, total_purchased, total_granted, total_used, lots, low_balance_threshold, last_revision, last_position, updated_at)
       SELECT r."accountId", r."balanceMillicredits", r."reservedMillicredits", r."totalPurchasedMillicredits",
              r."totalGrantedMillicredits", r."totalUsedMillicredits", r.lots, r."lowBalanceThresholdMillicredits",
              r."lastRevision", r."lastPosition", r."updatedAt"
         FROM jsonb_to_recordset($1::jsonb) AS r("accountId" text, "balanceMillicredits" bigint, "reservedMillicredits" bigint,
              "totalPurchasedMillicredits" bigint, "totalGrantedMillicredits" bigint, "totalUsedMillicredits" bigint,
              lots jsonb, "lowBalanceThresholdMillicredits" bigint, "lastRevision" bigint, "lastPosition" bigint, "updatedAt" timestamptz)
       ON CONFLICT (account_id) DO UPDATE SET
         balance = excluded.balance, reserved = excluded.reserved, total_purchased = excluded.total_purchased,
         total_granted = excluded.total_granted, total_used = excluded.total_used, lots = excluded.lots,
         low_balance_threshold = excluded.low_balance_threshold, last_revision = excluded.last_revision, last_position = excluded.last_position, updated_at = excluded.updated_at`,
      [JSON.stringify(rows)],
    );
  },
};
