import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CLOCK, ID_GENERATOR, type Clock, type IdGenerator } from '../clock.port';
import { GrantCreditsCommand } from './grant-credits.command';

@CommandHandler(GrantCreditsCommand)
export class GrantCreditsHandler implements ICommandHandler<GrantCreditsCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  execute({ input }: GrantCreditsCommand): Promise<CommandOutcome> {
    return this.executor.execute({
      type: 'GrantCredits',
      grantId: this.ids.next(),
      now: this.clock.now().toISOString(),
      ...input,
    });
  }
}
