import type { RecordedEvent } from '../application/event-store.port';
import { decodeAccountEvent, positionNumber } from '../application/accounts/account-event-codec';
import { ACCOUNT_EVENT_TYPES, type AccountEvent } from '../domain/account.events';

export interface ProjectedEvent {
  readonly event: AccountEvent;
  readonly eventId: string;
  readonly streamRevision: number;
  readonly position: number;
}

/**
 * The account events of a batch. Events of types this version does not know are passed
 * over: a projection never throws on a recorded fact.
 */
export const accountEventsOf = (events: readonly RecordedEvent[]): readonly ProjectedEvent[] =>
  events
    .filter((recorded) => (ACCOUNT_EVENT_TYPES as readonly string[]).includes(recorded.type))
    .map((recorded) => ({
      event: decodeAccountEvent(recorded),
      eventId: recorded.eventId,
      streamRevision: recorded.streamRevision,
      position: positionNumber(recorded.position),
    }));

export const groupByAccount = <T extends { readonly event: AccountEvent }>(items: readonly T[]): Map<string, T[]> => {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const accountId = item.event.data.accountId;
    const group = groups.get(accountId);
    if (group === undefined) groups.set(accountId, [item]);
    else group.push(item);
  }
  return groups;
};
