import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CLOCK, type Clock } from '../clock.port';
import { RefundPurchaseCommand } from './refund-purchase.command';

@CommandHandler(RefundPurchaseCommand)
export class RefundPurchaseHandler implements ICommandHandler<RefundPurchaseCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  execute({ input }: RefundPurchaseCommand): Promise<CommandOutcome> {
    return this.executor.execute({ type: 'RefundPurchase', now: this.clock.now().toISOString(), ...input });
  }
}
