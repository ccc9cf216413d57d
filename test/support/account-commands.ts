import { randomUUID } from 'node:crypto';
import type { CommandOutcome } from '../../src/application/accounts/account-command-executor';
import type { AccountCommand } from '../../src/domain/account.commands';

/** The writer suites' commands: a grant, and an SMS spend at 1 credit a message. */
export const SMS_RATE = { rateCardVersion: 'test', unit: 'message', unitPriceMillicredits: 1000, per: 1 };

export const grant = (accountId: string, creditsMillicredits: number): AccountCommand => ({
  type: 'GrantCredits',
  accountId,
  commandId: randomUUID(),
  requestHash: randomUUID(),
  now: new Date().toISOString(),
  grantId: randomUUID(),
  creditsMillicredits,
  reason: 'test',
  expiresAt: null,
  grantedBy: 'test',
});

export const spend = (accountId: string, quantity: number, commandId: string = randomUUID()): AccountCommand => ({
  type: 'UseCredits',
  accountId,
  commandId,
  requestHash: `${commandId}:${quantity}`,
  now: new Date().toISOString(),
  usageId: randomUUID(),
  service: 'sms',
  quantity,
  rate: SMS_RATE,
  metadata: {},
});

/** The record an applied or replayed command was answered with; anything else fails the test. */
export const recordOf = (outcome: CommandOutcome | undefined) => {
  if (outcome === undefined || outcome.status === 'unchanged' || outcome.status === 'rejected') throw new Error(`no record: ${JSON.stringify(outcome)}`);
  return outcome.record;
};
