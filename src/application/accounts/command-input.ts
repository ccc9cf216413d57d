/** What every account command brings from the edge; the handler adds time and ids. */
export interface CommandInput {
  readonly accountId: string;
  readonly commandId: string;
  readonly requestHash: string;
}

/**
 * Command ids the service makes itself for a write sent without an Idempotency-Key. They
 * are random and no client can send one (a client's key becomes `key:<key>`), so such a
 * command never comes again: once it is answered, its record has nothing left to answer.
 */
const ONE_OFF_PREFIX = 'request:';

export const oneOffCommandId = (uuid: string): string => `${ONE_OFF_PREFIX}${uuid}`;

export const isOneOffCommand = (commandId: string): boolean => commandId.startsWith(ONE_OFF_PREFIX);
