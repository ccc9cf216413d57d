import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

/**
 * Internal: credits a paid package. The payment reference (a Stripe Checkout Session id)
 * is the command id, so every delivery of one payment has one effect.
 */
export class RecordPurchaseCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & {
      readonly packageId: string;
      readonly paidCents: number;
      readonly paidCurrency: string;
      readonly paymentReference: string;
      readonly paymentIntentId: string | null;
    },
  ) {
    super();
  }
}
