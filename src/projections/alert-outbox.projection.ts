import type { RecordedEvent } from '../application/event-store.port';
import { formatCredits } from '../domain/money';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import type { Projection, TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

/** The body POSTed to ALERT_WEBHOOK_URL, as API.md gives it. */
export interface AlertPayload {
  readonly id: string;
  readonly type: 'low_balance';
  readonly accountId: string;
  readonly balance: string;
  readonly threshold: string;
  readonly occurredAt: string;
}

/**
 * Every alert ever raised, with the body to deliver: a pure function of the log.
 * Delivery state lives apart (alert_deliveries, owned by the dispatcher), so a rebuild
 * of this table never forgets what was delivered.
 */
/** The alert_outbox table, named through `table`. */
const alertOutboxTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('alert_outbox'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        alert_id text PRIMARY KEY,
        account_id text NOT NULL,
        payload jsonb NOT NULL,
        occurred_at timestamptz NOT NULL,
        position bigint NOT NULL
      )`,
    secondaryIndexes: [
      `CREATE INDEX ON ${name} (occurred_at)`,
    ],
  };
};

export const alertOutboxProjection: Projection = {
  name: 'alert_outbox',
  tables: ['alert_outbox'],
  handles: new Set(['LowBalanceReached']),

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    await createTableOnce(tx, alertOutboxTable(table), options);
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, alertOutboxTable(table));
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer) {
    const rows = accountEventsOf(events).flatMap(({ event, position }) => {
      if (event.type !== 'LowBalanceReached') return [];
      const payload: AlertPayload = {
        id: event.data.alertId,
        type: 'low_balance',
        accountId: event.data.accountId,
        balance: formatCredits(event.data.availableMillicredits),
        threshold: formatCredits(event.data.thresholdMillicredits),
        occurredAt: event.data.occurredAt,
      };
      return [{ alertId: payload.id, accountId: payload.accountId, payload, occurredAt: payload.occurredAt, position }];
    });
    if (rows.length === 0) return;
    await tx.query(
      `INSERT INTO ${identifier(table('alert_outbox'))} (alert_id, account_id, payload, occurred_at, position)
       SELECT r."alertId", r."accountId", r.payload, r."occurredAt", r.position
         FROM jsonb_to_recordset($1::jsonb) AS r("alertId" text, "accountId" text, payload jsonb, "occurredAt" timestamptz, position bigint)
       ON CONFLICT (alert_id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  },
};
