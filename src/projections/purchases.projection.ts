import type { RecordedEvent } from '../application/event-store.port';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import type { Projection, TableNamer } from './projection';
import { createTableOnce, identifier } from './sql-helpers';

export const purchaseRows = (events: readonly RecordedEvent[]) =>
  accountEventsOf(events).flatMap(({ event, position }) =>
    event.type === 'CreditsPurchased'
      ? [
          {
            purchaseId: event.data.lotId,
            accountId: event.data.accountId,
            packageId: event.data.packageId,
            creditsMillicredits: event.data.creditsMillicredits,
            priceCents: event.data.priceCents,
            currency: event.data.currency,
            paymentReference: event.data.paymentReference,
            occurredAt: event.data.occurredAt,
            position,
          },
        ]
      : [],
  );

export const purchasesProjection: Projection = {
  name: 'purchases',
  tables: ['purchases'],

  async createTables(tx: SqlExecutor, table: TableNamer) {
    const name = identifier(table('purchases'));
    await createTableOnce(tx, name, [
      `CREATE TABLE ${name} (
        purchase_id text PRIMARY KEY,
        account_id text NOT NULL,
        package_id text NOT NULL,
        credits bigint NOT NULL,
        price_cents bigint NOT NULL,
        currency text NOT NULL,
        payment_reference text NOT NULL,
        occurred_at timestamptz NOT NULL,
        position bigint NOT NULL
      )`,
      `CREATE INDEX ON ${name} (account_id, position DESC)`,
    ]);
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer) {
    const rows = purchaseRows(events);
    if (rows.length === 0) return;
    await tx.query(
      `INSERT INTO ${identifier(table('purchases'))}
         (purchase_id, account_id, package_id, credits, price_cents, currency, payment_reference, occurred_at, position)
       SELECT r."purchaseId", r."accountId", r."packageId", r."creditsMillicredits", r."priceCents", r.currency,
              r."paymentReference", r."occurredAt", r.position
         FROM jsonb_to_recordset($1::jsonb) AS r("purchaseId" text, "accountId" text, "packageId" text,
              "creditsMillicredits" bigint, "priceCents" bigint, currency text, "paymentReference" text,
              "occurredAt" timestamptz, position bigint)
       ON CONFLICT (purchase_id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  },
};

