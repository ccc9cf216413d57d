import type { RecordedEvent } from '../application/event-store.port';
import { decodeAccountEvent, positionNumber } from '../application/accounts/account-event-codec';
import { ACCOUNT_EVENT_TYPES, type AccountEvent } from '../domain/account.events';

export interface ProjectedEvent {
  readonly event: AccountEvent;
  readonly eventId: string;
  readonly streamRevision: number;
  readonly position: number;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(ACCOUNT_EVENT_TYPES);

/** Decoded batches by the array they came in: a rebuild hands the same page to every projection. */
const decodedBatches = new WeakMap<readonly RecordedEvent[], readonly ProjectedEvent[]>();

/**
 * The account events of a batch. Events of types this version does not know are passed
 * over: a projection never throws on a recorded fact. A batch is decoded once, however many
 * projections ask for it (batches are read-only, so the decoded one stays true).
 */
export const accountEventsOf = (events: readonly RecordedEvent[]): readonly ProjectedEvent[] => {
  const known = decodedBatches.get(events);
  if (known !== undefined) return known;
  const decoded: ProjectedEvent[] = [];
  for (const recorded of events) {
    if (!KNOWN_TYPES.has(recorded.type)) continue;
    decoded.push({
      event: decodeAccountEvent(recorded),
      eventId: recorded.eventId,
      streamRevision: recorded.streamRevision,
      position: positionNumber(recorded.position),
    });
  }
  decodedBatches.set(events, decoded);
  return decoded;
};

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
