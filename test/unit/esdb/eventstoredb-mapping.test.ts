import type {
  AllStreamJSONRecordedEvent,
  AllStreamRecordedEvent,
  AllStreamResolvedEvent,
  AppendResult as EsdbAppendResult,
} from '@eventstore/db-client';
import { WrongExpectedRevisionError, type NewEvent } from '../../../src/application/event-store.port';
import { InvariantViolation } from '../../../src/domain/assert';
import {
  ALL_READ_NOT_STARTED,
  allReadStart,
  collectAllPage,
  comparePositions,
  isGroupBoundary,
  isLedgerEvent,
  toAppendResult,
  toEsdbExpectedRevision,
  toEventData,
  toRecordedEvent,
  toSafeInteger,
  type AllReadQuery,
} from '../../../src/infrastructure/event-store/eventstoredb-mapping';

const PREFIXES = ['credit-account-'];
const CREATED = new Date('2025-03-01T12:00:00.000Z');

interface RecordSpec {
  readonly streamId: string;
  readonly revision: bigint;
  readonly commit: bigint;
  readonly prepare: bigint;
  readonly type?: string;
}

/** `n` as the last 12 hex digits of a UUID, so fixtures have stable, distinct ids. */
const uuid = (n: bigint): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

const recorded = ({ streamId, revision, commit, prepare, type = 'CreditsGranted' }: RecordSpec): AllStreamJSONRecordedEvent => ({
  streamId,
  id: uuid(prepare),
  isJson: true,
  revision,
  type,
  created: CREATED,
  data: { accountId: streamId, millicredits: 1000 },
  metadata: { schemaVersion: 1 },
  position: { commit, prepare },
});

const resolved = (spec: RecordSpec): AllStreamResolvedEvent => ({ event: recorded(spec), commitPosition: spec.commit });

describe('toSafeInteger', () => {
  it('converts bigints from 0 up to Number.MAX_SAFE_INTEGER', () => {
    expect(toSafeInteger(0n, 'revision')).toBe(0);
    expect(toSafeInteger(41n, 'revision')).toBe(41);
    expect(toSafeInteger(9_007_199_254_740_991n, 'revision')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('crashes on values a number cannot hold exactly, and on negatives', () => {
    expect(() => toSafeInteger(9_007_199_254_740_992n, 'revision')).toThrow(InvariantViolation);
    expect(() => toSafeInteger(-1n, 'revision')).toThrow(InvariantViolation);
  });
});

describe('toEsdbExpectedRevision', () => {
  it('maps no_stream, any and exact revisions', () => {
    expect(toEsdbExpectedRevision('no_stream')).toBe('no_stream');
    expect(toEsdbExpectedRevision('any')).toBe('any');
    expect(toEsdbExpectedRevision(0)).toBe(0n);
    expect(toEsdbExpectedRevision(17)).toBe(17n);
  });

  it('crashes on revisions that are not non-negative integers', () => {
    expect(() => toEsdbExpectedRevision(-1)).toThrow(InvariantViolation);
    expect(() => toEsdbExpectedRevision(1.5)).toThrow(InvariantViolation);
    expect(() => toEsdbExpectedRevision(Number.MAX_SAFE_INTEGER + 1)).toThrow(InvariantViolation);
  });
});

describe('toEventData', () => {
  const event: NewEvent = {
    eventId: '6f1c2f0e-8d1a-4c51-9a55-0b2d6c1e9f10',
    type: 'CreditsPurchased',
    data: { accountId: 'a-1', creditsMillicredits: 5000 },
    metadata: { commandId: 'c-1', hash: 'ab12' },
  };

  it('makes a JSON event whose id is our event id', () => {
    expect(toEventData(event)).toEqual({
      id: '6f1c2f0e-8d1a-4c51-9a55-0b2d6c1e9f10',
      contentType: 'application/json',
      type: 'CreditsPurchased',
      data: { accountId: 'a-1', creditsMillicredits: 5000 },
      metadata: { commandId: 'c-1', hash: 'ab12' },
    });
  });

  it('copies data and metadata rather than sharing them', () => {
    const data = toEventData(event);
    expect(data.data).not.toBe(event.data);
    expect(data.metadata).not.toBe(event.metadata);
  });

  it('crashes on an event id that would not round-trip through EventStoreDB', () => {
    expect(() => toEventData({ ...event, eventId: '6F1C2F0E-8D1A-4C51-9A55-0B2D6C1E9F10' })).toThrow(InvariantViolation);
    expect(() => toEventData({ ...event, eventId: 'cmd-1:0' })).toThrow(InvariantViolation);
  });
});

describe('toAppendResult', () => {
  const success: EsdbAppendResult = {
    success: true,
    nextExpectedRevision: 4n,
    position: { commit: 1_234_567n, prepare: 1_234_890n },
  };

  it('answers the last revision and the commit position, shared by every event of the append', () => {
    expect(toAppendResult('credit-account-a', 2, success, 2)).toEqual({
      nextExpectedRevision: 4,
      position: 1_234_567n,
      positions: [1_234_567n, 1_234_567n],
    });
  });

  it('turns a reported conflict into WrongExpectedRevisionError', () => {
    const conflict: EsdbAppendResult = { success: false, nextExpectedRevision: 7n };
    const attempt = (): unknown => toAppendResult('credit-account-a', 2, conflict, 1);
    expect(attempt).toThrow(WrongExpectedRevisionError);
    expect(attempt).toThrow(expect.objectContaining({ streamId: 'credit-account-a', expected: 2 }));
  });

  it('crashes on a success without a position or with a revision beyond a safe integer', () => {
    expect(() => toAppendResult('credit-account-a', 'any', { success: true, nextExpectedRevision: 0n }, 1)).toThrow(
      InvariantViolation,
    );
    expect(() =>
      toAppendResult('credit-account-a', 'any', { ...success, nextExpectedRevision: 9_007_199_254_740_992n }, 1),
    ).toThrow(InvariantViolation);
  });
});

describe('toRecordedEvent', () => {
  const spec: RecordSpec = { streamId: 'credit-account-a', revision: 3n, commit: 900n, prepare: 950n };

  it('maps every field, with the commit position as the position', () => {
    expect(toRecordedEvent(recorded(spec))).toEqual({
      eventId: uuid(950n),
      type: 'CreditsGranted',
      data: { accountId: 'credit-account-a', millicredits: 1000 },
      metadata: { schemaVersion: 1 },
      streamId: 'credit-account-a',
      streamRevision: 3,
      position: 900n,
      recordedAt: CREATED,
    });
  });

  it('reads absent metadata as an empty object', () => {
    expect(toRecordedEvent({ ...recorded(spec), metadata: undefined }).metadata).toEqual({});
  });

  it('crashes on events that are not ours to map', () => {
    const binary = { ...recorded(spec), isJson: false, data: new Uint8Array([1, 2]) } as AllStreamRecordedEvent;
    expect(() => toRecordedEvent(binary)).toThrow(InvariantViolation);
    expect(() => toRecordedEvent({ ...recorded(spec), data: 'not json' })).toThrow(InvariantViolation);
    expect(() => toRecordedEvent({ ...recorded(spec), data: [1, 2] })).toThrow(InvariantViolation);
    expect(() => toRecordedEvent({ ...recorded(spec), metadata: new Uint8Array([1]) })).toThrow(InvariantViolation);
    const { position: _position, ...withoutPosition } = recorded(spec);
    expect(() => toRecordedEvent(withoutPosition)).toThrow(InvariantViolation);
  });
});

describe('isLedgerEvent', () => {
  it('keeps events of streams under a prefix', () => {
    expect(isLedgerEvent({ streamId: 'credit-account-a', type: 'CreditsUsed' }, PREFIXES)).toBe(true);
    expect(isLedgerEvent({ streamId: 'run-7-b', type: 'CreditsUsed' }, ['credit-account-', 'run-7-'])).toBe(true);
  });

  it('drops other streams, system streams and system events', () => {
    expect(isLedgerEvent({ streamId: 'orders-1', type: 'OrderPlaced' }, PREFIXES)).toBe(false);
    expect(isLedgerEvent({ streamId: '$$credit-account-a', type: '$metadata' }, PREFIXES)).toBe(false);
    expect(isLedgerEvent({ streamId: '$stats-0.0.0.0:2113', type: '$statsCollected' }, PREFIXES)).toBe(false);
    expect(isLedgerEvent({ streamId: 'credit-account-a', type: '$streamDeleted' }, PREFIXES)).toBe(false);
    expect(isLedgerEvent({ streamId: 'credit-account-a', type: '$>' }, PREFIXES)).toBe(false);
  });
});

describe('positions', () => {
  it('orders by commit, then by prepare', () => {
    expect(comparePositions({ commit: 10n, prepare: 10n }, { commit: 10n, prepare: 10n })).toBe(0);
    expect(comparePositions({ commit: 10n, prepare: 30n }, { commit: 20n, prepare: 20n })).toBe(-1);
    expect(comparePositions({ commit: 10n, prepare: 30n }, { commit: 10n, prepare: 20n })).toBe(1);
  });

  it('resumes a read of $all at the commit position as both commit and prepare', () => {
    expect(allReadStart(null)).toBe('start');
    expect(allReadStart(4_096n)).toEqual({ commit: 4_096n, prepare: 4_096n });
  });

  it('sees a group boundary wherever the commit position changes', () => {
    expect(isGroupBoundary(undefined, 10n)).toBe(true);
    expect(isGroupBoundary(10n, 10n)).toBe(false);
    expect(isGroupBoundary(10n, 20n)).toBe(true);
  });
});

describe('collectAllPage', () => {
  // Three appends: A (commit 100, two events), B (commit 200, three events), C (commit 300, one event),
  // with others' and system events in between.
  const a0 = resolved({ streamId: 'credit-account-a', revision: 0n, commit: 100n, prepare: 100n });
  const a1 = resolved({ streamId: 'credit-account-a', revision: 1n, commit: 100n, prepare: 150n });
  const settings = resolved({ streamId: '$settings', revision: 0n, commit: 170n, prepare: 170n, type: '$settings' });
  const b0 = resolved({ streamId: 'credit-account-b', revision: 0n, commit: 200n, prepare: 200n });
  const b1 = resolved({ streamId: 'credit-account-b', revision: 1n, commit: 200n, prepare: 250n });
  const b2 = resolved({ streamId: 'credit-account-b', revision: 2n, commit: 200n, prepare: 260n });
  const other = resolved({ streamId: 'orders-1', revision: 0n, commit: 280n, prepare: 280n, type: 'OrderPlaced' });
  const c0 = resolved({ streamId: 'credit-account-c', revision: 0n, commit: 300n, prepare: 300n });
  const log = [a0, a1, settings, b0, b1, b2, other, c0];

  const query = (after: bigint | null, limit: number): AllReadQuery => ({ after, limit, prefixes: PREFIXES });
  const keys = (events: readonly { streamId: string; streamRevision: number }[]): string[] =>
    events.map((e) => `${e.streamId}@${e.streamRevision}`);

  it('keeps only our events and reads to the end of the page when the limit is not reached', () => {
    const progress = collectAllPage(ALL_READ_NOT_STARTED, log, query(null, 100));
    expect(keys(progress.events)).toEqual([
      'credit-account-a@0',
      'credit-account-a@1',
      'credit-account-b@0',
      'credit-account-b@1',
      'credit-account-b@2',
      'credit-account-c@0',
    ]);
    expect(progress.complete).toBe(false);
    expect(progress.cursor).toEqual({ commit: 300n, prepare: 300n });
    expect(progress.events.map((e) => e.position)).toEqual([100n, 100n, 200n, 200n, 200n, 300n]);
  });

  it('skips events at or before `after`, including the rest of the append at `after`', () => {
    const progress = collectAllPage(ALL_READ_NOT_STARTED, [a1, settings, b0, b1, b2, other, c0], query(100n, 100));
    expect(keys(progress.events)).toEqual([
      'credit-account-b@0',
      'credit-account-b@1',
      'credit-account-b@2',
      'credit-account-c@0',
    ]);
  });

  it('stops at the first append boundary once the limit is reached', () => {
    const progress = collectAllPage(ALL_READ_NOT_STARTED, log, query(null, 2));
    expect(keys(progress.events)).toEqual(['credit-account-a@0', 'credit-account-a@1']);
    expect(progress.complete).toBe(true);
  });

  it('finishes the append the limit falls inside', () => {
    const progress = collectAllPage(ALL_READ_NOT_STARTED, log, query(null, 3));
    expect(keys(progress.events)).toEqual([
      'credit-account-a@0',
      'credit-account-a@1',
      'credit-account-b@0',
      'credit-account-b@1',
      'credit-account-b@2',
    ]);
    expect(progress.complete).toBe(true);
  });

  it('is not complete when the page ends inside the append, and finishes it from the next page', () => {
    const first = collectAllPage(ALL_READ_NOT_STARTED, [a0, a1, settings, b0, b1], query(null, 3));
    expect(keys(first.events)).toEqual(['credit-account-a@0', 'credit-account-a@1', 'credit-account-b@0', 'credit-account-b@1']);
    expect(first.complete).toBe(false);
    expect(first.cursor).toEqual({ commit: 200n, prepare: 250n });

    // The next page starts at the cursor, which a read includes: b1 comes again and is skipped.
    const second = collectAllPage(first, [b1, b2, other, c0], query(null, 3));
    expect(keys(second.events)).toEqual([
      'credit-account-a@0',
      'credit-account-a@1',
      'credit-account-b@0',
      'credit-account-b@1',
      'credit-account-b@2',
    ]);
    expect(second.complete).toBe(true);
  });

  it('reads past a run of others\u2019 events without counting them', () => {
    const first = collectAllPage(ALL_READ_NOT_STARTED, [settings, other], query(null, 1));
    expect(first.events).toEqual([]);
    expect(first.complete).toBe(false);
    expect(first.cursor).toEqual({ commit: 280n, prepare: 280n });
    const second = collectAllPage(first, [other, c0], query(null, 1));
    expect(keys(second.events)).toEqual(['credit-account-c@0']);
  });

  it('returns nothing from an empty page', () => {
    expect(collectAllPage(ALL_READ_NOT_STARTED, [], query(null, 10))).toEqual(ALL_READ_NOT_STARTED);
  });
});
