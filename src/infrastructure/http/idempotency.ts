import { createHash, randomUUID } from 'node:crypto';
import type { CommandInput } from '../../application/accounts/command-input';
import { idempotencyKeySchema, parseOrThrow } from './validation';

export interface CommandIdentity extends CommandInput {
  /** True when the client sent an Idempotency-Key (a repeat is then marked as replayed). */
  readonly keyed: boolean;
}

/**
 * The command id and request fingerprint of a write. A client key is scoped to the
 * account by living in the account's stream; the prefix keeps client keys apart from
 * the ids the service makes itself (Stripe sessions, server uuids).
 */
export const commandIdentity = (
  idempotencyKey: string | undefined,
  operation: string,
  accountId: string,
  body: unknown,
): CommandIdentity => {
  const key = idempotencyKey === undefined ? undefined : parseOrThrow(idempotencyKeySchema, idempotencyKey, 'header.Idempotency-Key');
  return {
    accountId,
    commandId: key === undefined ? `request:${randomUUID()}` : `key:${key}`,
    requestHash: fingerprint({ operation, accountId, body }),
    keyed: key !== undefined,
  };
};

export const fingerprint = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};
