import type { RecordedEvent } from '../application/event-store.port';
import type { SqlExecutor } from '../infrastructure/postgres/sql-client';
import { accountEventsOf } from './account-events';
import type { Projection, TableNamer } from './projection';
import { createIndexes, createTableOnce, identifier, type CreateTablesOptions, type TableDefinition } from './sql-helpers';

export type ExpiryKind = 'reservation' | 'lot';

/**
 * What is due to expire and when: open reservations and grant lots with an expiry.
 * Kept from the log like any read model, so the schedule survives restarts and rebuilds;
 * the expiry scheduler works through the rows that are due.
 */
/** The expiry_schedule table, named through `table`. */
const expiryScheduleTable = (table: TableNamer): TableDefinition => {
  const name = identifier(table('expiry_schedule'));
  return {
    name,
    create: `CREATE TABLE ${name} (
        kind text NOT NULL,
        ref_id text NOT NULL,
        account_id text NOT NULL,
        due_at timestamptz NOT NULL,
        PRIMARY KEY (kind, ref_id)
      )`,
    secondaryIndexes: [
      `CREATE INDEX ON ${name} (due_at)`,
    ],
  };
};

export const expiryScheduleProjection: Projection = {
  name: 'expiry_schedule',
  tables: ['expiry_schedule'],
  handles: new Set(['CreditsReserved', 'ReservationCaptured', 'ReservationReleased', 'CreditsGranted', 'CreditsExpired']),

  async createTables(tx: SqlExecutor, table: TableNamer, options?: CreateTablesOptions) {
    await createTableOnce(tx, expiryScheduleTable(table), options);
  },

  async createSecondaryIndexes(tx: SqlExecutor, table: TableNamer) {
    await createIndexes(tx, expiryScheduleTable(table));
  },

  async apply(tx: SqlExecutor, events: readonly RecordedEvent[], table: TableNamer) {
    const name = identifier(table('expiry_schedule'));
    const schedule = async (kind: ExpiryKind, refId: string, accountId: string, dueAt: string) =>
      tx.query(`INSERT INTO ${name} (kind, ref_id, account_id, due_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, ref_id) DO NOTHING`, [
        kind,
        refId,
        accountId,
        dueAt,
      ]);
    const done = async (kind: ExpiryKind, refId: string) => tx.query(`DELETE FROM ${name} WHERE kind = $1 AND ref_id = $2`, [kind, refId]);
    for (const { event } of accountEventsOf(events)) {
      switch (event.type) {
        case 'CreditsReserved':
          await schedule('reservation', event.data.reservationId, event.data.accountId, event.data.expiresAt);
          break;
        case 'ReservationCaptured':
        case 'ReservationReleased':
          await done('reservation', event.data.reservationId);
          break;
        case 'CreditsGranted':
          if (event.data.expiresAt !== null) await schedule('lot', event.data.lotId, event.data.accountId, event.data.expiresAt);
          break;
        case 'CreditsExpired':
          await done('lot', event.data.lotId);
          break;
        default:
          break;
      }
    }
  },
};

export interface DueExpiry {
  readonly kind: ExpiryKind;
  readonly refId: string;
  readonly accountId: string;
}

export const dueExpiries = (sql: SqlExecutor, now: Date, limit: number): Promise<readonly DueExpiry[]> =>
  sql
    .query<{ kind: ExpiryKind; ref_id: string; account_id: string }>(
      'SELECT kind, ref_id, account_id FROM expiry_schedule WHERE due_at <= $1 ORDER BY due_at LIMIT $2',
      [now.toISOString(), limit],
    )
    .then((rows) => rows.map((row) => ({ kind: row.kind, refId: row.ref_id, accountId: row.account_id })));

/** A due item whose command found nothing left to do (a lot spent to zero) leaves the schedule. */
export const dropExpiry = (sql: SqlExecutor, { kind, refId }: DueExpiry): Promise<readonly object[]> =>
  sql.query('DELETE FROM expiry_schedule WHERE kind = $1 AND ref_id = $2', [kind, refId]);
