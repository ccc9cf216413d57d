import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';
import { CLOCK, type Clock } from '../clock.port';

export class SetLowBalanceThresholdCommand extends Command<CommandOutcome> {
  constructor(readonly input: CommandInput & { readonly thresholdMillicredits: number }) {
    super();
  }
}

@CommandHandler(SetLowBalanceThresholdCommand)
export class SetLowBalanceThresholdHandler implements ICommandHandler<SetLowBalanceThresholdCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  execute({ input }: SetLowBalanceThresholdCommand): Promise<CommandOutcome> {
    return this.executor.execute({ type: 'SetLowBalanceThreshold', now: this.clock.now().toISOString(), ...input });
  }
}
