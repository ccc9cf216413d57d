import { formatCredits } from '../../domain/money';
import type { TransactionRecord } from '../../projections/postgres-read-models';
import type { SqlExecutor } from '../postgres/sql-client';

/**
 * Transaction history as CSV or JSON Lines, streamed page by page (keyset on the
 * primary key), so memory stays flat however many rows: nothing but one page is held.
 * CSV is what spreadsheet programs open as they are: a UTF-8 byte-order mark, CRLF line
 * ends, RFC 4180 quoting, and text cells that would start a formula (=, +, -, @, tab,
 * CR) prefixed with a quote so no cell is ever executed.
 */
export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface TransactionsExportQuery {
  /** One account, or every account when undefined. */
  readonly accountId: string | undefined;
  /** Inclusive lower bound on occurredAt. */
  readonly from: Date | undefined;
  /** Exclusive upper bound on occurredAt. */
  readonly to: Date | undefined;
  readonly format: ExportFormat;
}

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

const PAGE_SIZE = 1000;
const CSV_HEADER = ['account_id', 'transaction_id', 'type', 'credits', 'balance_after', 'service', 'quantity', 'description', 'occurred_at', 'position'];
const BOM = '\uFEFF';

interface ExportRow extends TransactionRecord {
  readonly account_id: string;
}

export async function* exportTransactions(sql: SqlExecutor, query: TransactionsExportQuery, pageSize = PAGE_SIZE): AsyncGenerator<string> {
  if (query.format === 'csv') yield `${BOM}${CSV_HEADER.join(',')}\r\n`;
  let after: { account: string; revision: string } | null = null;
  for (;;) {
    const rows: readonly ExportRow[] = await sql.query<ExportRow>(
      `SELECT account_id, stream_revision::text AS stream_revision, id, type, credits::text AS credits,
              balance_after::text AS balance_after, service, quantity::text AS quantity, description, occurred_at,
              position::text AS position
         FROM transactions
        WHERE ($1::text IS NULL OR account_id = $1)
          AND ($2::timestamptz IS NULL OR occurred_at >= $2)
          AND ($3::timestamptz IS NULL OR occurred_at < $3)
          AND ($4::text IS NULL OR (account_id, stream_revision) > ($4::text, $5::bigint))
        ORDER BY transactions.account_id, transactions.stream_revision
        LIMIT $6`,
      [query.accountId ?? null, query.from?.toISOString() ?? null, query.to?.toISOString() ?? null, after?.account ?? null, after?.revision ?? null, pageSize],
    );
    if (rows.length > 0) yield rows.map(query.format === 'csv' ? csvLine : jsonLine).join('');
    const last = rows.at(-1);
    if (last === undefined || rows.length < pageSize) return;
    after = { account: last.account_id, revision: last.stream_revision };
  }
}

const iso = (value: Date | string): string => new Date(value).toISOString();

const jsonLine = (row: ExportRow): string =>
  `${JSON.stringify({
    accountId: row.account_id,
    id: row.id,
    type: row.type,
    credits: formatCredits(Number(row.credits)),
    balanceAfter: formatCredits(Number(row.balance_after)),
    service: row.service,
    quantity: row.quantity === null ? null : Number(row.quantity),
    description: row.description,
    occurredAt: iso(row.occurred_at),
    position: Number(row.position),
  })}\n`;

const csvLine = (row: ExportRow): string =>
  `${[
    textCell(row.account_id),
    textCell(row.id),
    textCell(row.type),
    formatCredits(Number(row.credits)),
    formatCredits(Number(row.balance_after)),
    textCell(row.service ?? ''),
    row.quantity ?? '',
    textCell(row.description),
    iso(row.occurred_at),
    row.position,
  ].join(',')}\r\n`;

/** A text cell: never read as a formula, quoted when it holds a separator, quote or line break. */
export const textCell = (value: string): string => {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== safe.trim() ? `"${safe.replace(/"/g, '""')}"` : safe;
};
