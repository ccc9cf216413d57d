import { hash } from 'node:crypto';
import { canonicalJson } from '../canonical-json';
import type { NewEvent, RecordedEvent } from '../event-store.port';

/**
 * Tamper evidence: every event's metadata carries `prevHash`, the hash of the previous
 * event of its stream (GENESIS_HASH for the first), and `hash`, the SHA-256 of the
 * previous hash and of the event's own content (stream, revision, id, type, data,
 * schema version) in a canonical JSON form. Changing, removing or reordering a stored
 * event breaks the chain from there on, and an auditor can recompute it end to end
 * from nothing but the log.
 */
export const GENESIS_HASH = '0'.repeat(64);
export const CHAIN_ALGORITHM = 'sha256';

interface ChainedContent {
  readonly streamId: string;
  readonly streamRevision: number;
  readonly eventId: string;
  readonly type: string;
  readonly data: object;
  readonly schemaVersion: unknown;
}

/** One-shot `hash` (every appended event, and every event an audit replays): about half the time of createHash().update().digest(). */
export const eventHash = (prevHash: string, content: ChainedContent): string =>
  hash(
    CHAIN_ALGORITHM,
    canonicalJson({
      prevHash,
      streamId: content.streamId,
      streamRevision: content.streamRevision,
      eventId: content.eventId,
      type: content.type,
      schemaVersion: content.schemaVersion,
      data: content.data,
    }),
    'hex',
  );

/** The hash a stored event claims, or undefined for one written without a chain. */
export const storedHash = (event: Pick<RecordedEvent, 'metadata'>): string | undefined => {
  const hash = event.metadata['hash'];
  return typeof hash === 'string' ? hash : undefined;
};

/** Links new events onto a stream whose last event has `prevHash` and revision `firstRevision - 1`. */
export const chainEvents = (streamId: string, firstRevision: number, prevHash: string, events: readonly NewEvent[]): NewEvent[] => {
  let previous = prevHash;
  return events.map((event, index) => {
    const hash = eventHash(previous, {
      streamId,
      streamRevision: firstRevision + index,
      eventId: event.eventId,
      type: event.type,
      data: event.data,
      schemaVersion: event.metadata['schemaVersion'],
    });
    const linked = { ...event, metadata: { ...event.metadata, prevHash: previous, hash } };
    previous = hash;
    return linked;
  });
};

export type ChainProblemKind = 'missing_hash' | 'hash_mismatch' | 'broken_link' | 'revision_gap';

export interface ChainProblem {
  readonly kind: ChainProblemKind;
  readonly streamId: string;
  readonly streamRevision: number;
  readonly position: bigint;
  readonly expected: string;
  readonly actual: string;
}

/**
 * Checks every stream's chain while the log is read once in order ($all). Keeps one
 * link (revision and hash) per stream, so memory grows with streams, not events.
 */
export class ChainVerifier {
  private readonly heads = new Map<string, { readonly revision: number; readonly hash: string }>();

  get streams(): number {
    return this.heads.size;
  }

  check(event: RecordedEvent): ChainProblem[] {
    const problems: ChainProblem[] = [];
    const head = this.heads.get(event.streamId) ?? { revision: -1, hash: GENESIS_HASH };
    const problem = (kind: ChainProblemKind, expected: string, actual: string) =>
      problems.push({ kind, streamId: event.streamId, streamRevision: event.streamRevision, position: event.position, expected, actual });

    if (event.streamRevision !== head.revision + 1) {
      problem('revision_gap', `revision ${head.revision + 1}`, `revision ${event.streamRevision}`);
    }
    const recomputed = eventHash(head.hash, {
      streamId: event.streamId,
      streamRevision: event.streamRevision,
      eventId: event.eventId,
      type: event.type,
      data: event.data,
      schemaVersion: event.metadata['schemaVersion'],
    });
    const stored = storedHash(event);
    const prevHash = event.metadata['prevHash'];
    if (stored === undefined) {
      problem('missing_hash', recomputed, 'none');
    } else {
      if (prevHash !== head.hash) problem('broken_link', head.hash, String(prevHash));
      if (stored !== recomputed) problem('hash_mismatch', recomputed, stored);
    }
    // Carry on from what is stored, so one bad event is reported once, not for the rest of its stream.
    this.heads.set(event.streamId, { revision: event.streamRevision, hash: stored ?? recomputed });
    return problems;
  }
}
