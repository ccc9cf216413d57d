import type { RecordedEvent } from '../application/event-store.port';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import type { Projection, TableNamer } from './projection';
import { createTableOnce, identifier } from './sql-helpers';

/** Usage per account, service and UTC day: quantity in the service's unit, credits in millicredits. */
export interface UsageDailyRow {
  readonly accountId: string;
  readonly service: string;
  readonly day: string;
  readonly quantity: number;
  readonly creditsMillicredits: number;
}

/** A batch's usage, summed per (account, service, day). */
export const usageDailyDeltas = (events: readonly RecordedEvent[]): UsageDailyRow[] => {
  const totals = new Map<string, UsageDailyRow>();
  for (const { event } of accountEventsOf(events)) {
    if (event.type !== 'CreditsUsed' && event.type !== 'ReservationCaptured') continue;
    const { accountId, service, quantity, chargedMillicredits, occurredAt } = event.data;
    const day = occurredAt.slice(0, 10);
    const key = JSON.stringify([accountId, service, day]);
    const total = totals.get(key);
    totals.set(key, {
      accountId,
      service,
      day,
      quantity: (total?.quantity ?? 0) + quantity,
      creditsMillicredits: (total?.creditsMillicredits ?? 0) + chargedMillicredits,
    });
  }
  return [...totals.values()];
};

export const usageDailyProjection: Projection = {
  name: 'usage_daily',
  tables: ['usage_daily'],

  async createTables(tx: SqlExecutor, table: TableNamer) {
    const name = identifier(table('usage_daily'));
    await createTableOnce(tx, name, [
      `CREATE TABLE ${name} (
        account_id text NOT NULL,
        service text NOT NULL,
        day date NOT NULL,
        quantity numeric(30, 0) NOT NULL,
        credits bigint NOT NULL,
        PRIMARY KEY (account_id, day, service)
      )`,
      `CREATE INDEX ON ${name} (day, service)`,
    ]);
  },

  // Additive: exactly-once comes from the runner committing these rows with the checkpoint.
  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer) {
    const deltas = usageDailyDeltas(events);
    if (deltas.length === 0) return;
    const name = identifier(table('usage_daily'));
    await tx.query(
      `INSERT INTO ${name} AS u (account_id, service, day, quantity, credits)
       SELECT r."accountId", r.service, r.day, r.quantity, r."creditsMillicredits"
         FROM json_to_recordset($1::json) AS r("accountId" text, service text, day date, quantity numeric, "creditsMillicredits" bigint)
       ON CONFLICT (account_id, day, service) DO UPDATE SET
         quantity = u.quantity + excluded.quantity, credits = u.credits + excluded.credits`,
      [JSON.stringify(deltas)],
    );
  },
};
