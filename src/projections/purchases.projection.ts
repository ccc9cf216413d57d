import type { RecordedEvent } from '../application/event-store.port';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import type { Projection, TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

export type PurchaseStatus = 'credited' | 'partially_refunded' | 'refunded' | 'held_for_review';

/**
 * One row per paid Checkout Session: credited, refunded (in part or whole), or held for
 * review. Writes go in log order, one statement per fact: payments are few.
 */
const applyEvent = async (tx: SqlExecutor, table: string, { event, position }: ReturnType<typeof accountEventsOf>[number]): Promise<void> => {
  switch (event.type) {
    case 'CreditsPurchased':
      await tx.query(
        `INSERT INTO ${table} (payment_reference, purchase_id, account_id, package_id, status, credits, price_cents, currency,
           paid_cents, refunded_cents, refunded_credits, payment_intent_id, occurred_at, position)
         VALUES ($1, $2, $3, $4, 'credited', $5, $6, $7, $6, 0, 0, $8, $9, $10)
         ON CONFLICT (payment_reference) DO NOTHING`,
        [event.data.paymentReference, event.data.lotId, event.data.accountId, event.data.packageId, event.data.creditsMillicredits,
          event.data.priceCents, event.data.currency, event.data.paymentIntentId, event.data.occurredAt, position],
      );
      return;
    case 'PaymentHeldForReview':
      await tx.query(
        `INSERT INTO ${table} (payment_reference, purchase_id, account_id, package_id, status, credits, price_cents, currency,
           paid_cents, refunded_cents, refunded_credits, payment_intent_id, occurred_at, position)
         VALUES ($1, NULL, $2, $3, 'held_for_review', 0, $4, $5, $6, 0, 0, $7, $8, $9)
         ON CONFLICT (payment_reference) DO NOTHING`,
        [event.data.paymentReference, event.data.accountId, event.data.packageId, event.data.expectedCents, event.data.paidCurrency,
          event.data.paidCents, event.data.paymentIntentId, event.data.occurredAt, position],
      );
      return;
    case 'CreditsRefunded':
      // Guarded by position: a replayed refund never counts twice.
      await tx.query(
        `UPDATE ${table} SET refunded_cents = GREATEST(refunded_cents, $2), refunded_credits = refunded_credits + $3,
           status = CASE WHEN GREATEST(refunded_cents, $2) >= price_cents THEN 'refunded' ELSE 'partially_refunded' END,
           position = $4
         WHERE payment_reference = $1 AND position < $4`,
        [event.data.paymentReference, event.data.refundedCentsTotal, event.data.creditsMillicredits, position],
      );
      return;
    default:
      return;
  }
};

/** The purchases table, named through `table`. */
const purchasesTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('purchases'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        payment_reference text PRIMARY KEY,
        purchase_id text,
        account_id text NOT NULL,
        package_id text NOT NULL,
        status text NOT NULL,
        credits bigint NOT NULL,
        price_cents bigint,
        currency text NOT NULL,
        paid_cents bigint NOT NULL,
        refunded_cents bigint NOT NULL,
        refunded_credits bigint NOT NULL,
        payment_intent_id text,
        occurred_at timestamptz NOT NULL,
        position bigint NOT NULL
      )`,
    secondaryIndexes: [
      `CREATE INDEX ON ${name} (account_id, occurred_at DESC)`,
      `CREATE INDEX ON ${name} (status) WHERE status = 'held_for_review'`,
    ],
  };
};

const PURCHASE_EVENTS: ReadonlySet<string> = new Set(['CreditsPurchased', 'PaymentHeldForReview', 'CreditsRefunded']);

export const purchasesProjection: Projection = {
  name: 'purchases',
  tables: ['purchases'],
  handles: PURCHASE_EVENTS,

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    await createTableOnce(tx, purchasesTable(table), options);
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, purchasesTable(table));
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer) {
    const name = identifier(table('purchases'));
    // Only payments' facts are awaited: a rebuild hands every page of the log to every
    // projection, and an await per event allocated 200 MB over a million of them.
    for (const projected of accountEventsOf(events)) if (PURCHASE_EVENTS.has(projected.event.type)) await applyEvent(tx, name, projected);
  },
};
