import type {
  BalanceView,
  ReadModels,
  TransactionPageRequest,
  TransactionView,
  UsageAnalytics,
  UsageRange,
  UsageTotal,
} from '../application/read-models.port';
import type { SqlClient } from '../infrastructure/postgres/sql-client';
import { DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS } from '../domain/account.state';
import { readBalanceRows } from './balances.projection';

/** A row of the transactions read model as the driver returns it (bigints as text). */
export interface TransactionRecord {
  readonly stream_revision: string;
  readonly id: string;
  readonly type: string;
  readonly credits: string;
  readonly balance_after: string;
  readonly service: string | null;
  readonly quantity: string | null;
  readonly description: string;
  readonly occurred_at: Date | string;
  readonly position: string;
}

interface UsageRecord {
  readonly key: string;
  readonly quantity: string;
  readonly credits: string;
}

/** The API's queries over the read models. */
export class PostgresReadModels implements ReadModels {
  constructor(private readonly sql: SqlClient) {}

  async balance(accountId: string): Promise<BalanceView> {
    const row = (await readBalanceRows(this.sql, 'balances', [accountId])).get(accountId);
    return row === undefined
      ? {
          accountId,
          balanceMillicredits: 0,
          reservedMillicredits: 0,
          totalPurchasedMillicredits: 0,
          totalGrantedMillicredits: 0,
          totalUsedMillicredits: 0,
          lots: [],
          lowBalanceThresholdMillicredits: DEFAULT_LOW_BALANCE_THRESHOLD_MILLICREDITS,
          position: 0,
        }
      : { ...row, position: row.lastPosition };
  }

  async spentSince(accountId: string, since: Date): Promise<number> {
    const [row] = await this.sql.query<{ spent: string }>(
      `SELECT coalesce(-sum(credits), 0)::text AS spent FROM transactions
        WHERE account_id = $1 AND type = 'usage' AND occurred_at > $2`,
      [accountId, since.toISOString()],
    );
    return Number(row?.spent ?? 0);
  }

  async transactions({ accountId, limit, beforeSequence, type }: TransactionPageRequest): Promise<readonly TransactionView[]> {
    const records = await this.sql.query<TransactionRecord>(
      `SELECT t.stream_revision::text, t.id, t.type, t.credits::text, t.balance_after::text, t.service, t.quantity::text,
              t.description, t.occurred_at, t.position::text
         FROM transactions t
        WHERE t.account_id = $1 AND ($2::bigint IS NULL OR t.stream_revision < $2) AND ($3::text IS NULL OR t.type = $3)
        ORDER BY t.stream_revision DESC
        LIMIT $4`,
      [accountId, beforeSequence, type, limit],
    );
    return records.map((record) => ({
      id: record.id,
      type: record.type,
      creditsMillicredits: Number(record.credits),
      balanceAfterMillicredits: Number(record.balance_after),
      service: record.service,
      quantity: record.quantity === null ? null : Number(record.quantity),
      description: record.description,
      occurredAt: new Date(record.occurred_at).toISOString(),
      position: Number(record.position),
      sequence: Number(record.stream_revision),
    }));
  }

  async usage(accountId: string, range: UsageRange, groupBy: 'service' | 'day'): Promise<readonly UsageTotal[]> {
    const key = groupBy === 'service' ? 'service' : `to_char(day, 'YYYY-MM-DD')`;
    const records = await this.sql.query<UsageRecord>(
      `SELECT ${key} AS key, sum(quantity)::text AS quantity, sum(credits)::text AS credits
         FROM usage_daily
        WHERE account_id = $1 AND day BETWEEN $2::date AND $3::date
        GROUP BY 1 ORDER BY 1`,
      [accountId, range.fromDay, range.toDay],
    );
    return records.map(toUsageTotal);
  }

  async usageAnalytics(range: UsageRange, topAccounts: number): Promise<UsageAnalytics> {
    const byService = await this.sql.query<UsageRecord & { accounts: string }>(
      `SELECT service AS key, sum(quantity)::text AS quantity, sum(credits)::text AS credits,
              count(DISTINCT account_id)::text AS accounts
         FROM usage_daily WHERE day BETWEEN $1::date AND $2::date
        GROUP BY service ORDER BY sum(credits) DESC, service`,
      [range.fromDay, range.toDay],
    );
    const top = await this.sql.query<{ account_id: string; credits: string }>(
      `SELECT account_id, sum(credits)::text AS credits
         FROM usage_daily WHERE day BETWEEN $1::date AND $2::date
        GROUP BY account_id ORDER BY sum(credits) DESC, account_id LIMIT $3`,
      [range.fromDay, range.toDay, topAccounts],
    );
    return {
      byService: byService.map((record) => ({ ...toUsageTotal(record), accounts: Number(record.accounts) })),
      topAccounts: top.map((record) => ({ accountId: record.account_id, creditsMillicredits: Number(record.credits) })),
    };
  }
}

const toUsageTotal = (record: UsageRecord): UsageTotal => ({
  key: record.key,
  quantity: Number(record.quantity),
  creditsMillicredits: Number(record.credits),
});
