import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CLOCK, ID_GENERATOR, type Clock, type IdGenerator } from '../clock.port';
import { AdjustCreditsCommand } from './adjust-credits.command';

@CommandHandler(AdjustCreditsCommand)
export class AdjustCreditsHandler implements ICommandHandler<AdjustCreditsCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  execute({ input }: AdjustCreditsCommand): Promise<CommandOutcome> {
    return this.executor.execute({
      type: 'AdjustCredits',
      adjustmentId: this.ids.next(),
      now: this.clock.now().toISOString(),
      ...input,
    });
  }
}
