import type { FastifyReply } from 'fastify';
import type { CommandOutcome } from '../../application/accounts/account-command-executor';
import type { CommandRecord } from '../../domain/account.state';
import type { CommandIdentity } from './idempotency';
import { LedgerRejection } from './ledger-rejection';

export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * The answer to a write: the recorded outcome rendered by `render` — the same bytes
 * for the first answer and any replay — or the refusal, thrown for the exception filter.
 */
export const answer = <Body>(
  reply: FastifyReply,
  outcome: CommandOutcome,
  identity: CommandIdentity,
  render: (record: CommandRecord) => Body,
): Body => {
  if (outcome.status === 'rejected') throw new LedgerRejection(outcome.error);
  if (outcome.status === 'unchanged') throw new Error('an API command cannot be left unchanged');
  if (outcome.status === 'replayed' && identity.keyed) void reply.header(REPLAYED_HEADER, 'true');
  return render(outcome.record);
};
