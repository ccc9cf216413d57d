import type { NewEvent, RecordedEvent } from '../event-store.port';
import { ACCOUNT_EVENT_TYPES, type AccountEvent } from '../../domain/account.events';

/** Domain events ↔ stored events: the type and data as they are, the schema version in metadata. */
export const encodeAccountEvent = (event: AccountEvent, eventId: string): NewEvent => ({
  eventId,
  type: event.type,
  data: event.data,
  metadata: { schemaVersion: event.schemaVersion },
});

export const decodeAccountEvent = (recorded: RecordedEvent): AccountEvent => {
  const type = ACCOUNT_EVENT_TYPES.find((known) => known === recorded.type);
  const schemaVersion = recorded.metadata['schemaVersion'];
  if (type === undefined || schemaVersion !== 1) {
    throw new Error(`unknown event ${recorded.type} v${String(schemaVersion)} at position ${recorded.position}`);
  }
  // Stored events of a known type and version were written by encodeAccountEvent.
  return { type, schemaVersion, data: upcast(type, recorded.data) } as unknown as AccountEvent;
};

/** Positions leave the service as JSON numbers; a position past 2^53 is a broken store. */
export const positionNumber = (position: bigint): number => {
  const value = Number(position);
  if (!Number.isSafeInteger(value)) throw new Error(`position ${position} exceeds the safe integer range`);
  return value;
};

/**
 * Fields added to a version after events of it were stored get their neutral value:
 * purchases recorded before refunds existed settled no debt and name no PaymentIntent.
 */
const upcast = (type: string, data: object): object =>
  type === 'CreditsPurchased' ? { paymentIntentId: null, debtSettledMillicredits: 0, ...data } : data;
