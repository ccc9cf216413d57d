import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

/** Internal: a payment's running refunded total as Stripe reports it (charge.refunded). */
export class RefundPurchaseCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & {
      readonly paymentIntentId: string;
      readonly refundedCentsTotal: number;
    },
  ) {
    super();
  }
}
