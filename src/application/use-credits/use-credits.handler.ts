import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CLOCK, ID_GENERATOR, type Clock, type IdGenerator } from '../clock.port';
import { CatalogService } from '../catalog/catalog.service';
import { UseCreditsCommand } from './use-credits.command';

@CommandHandler(UseCreditsCommand)
export class UseCreditsHandler implements ICommandHandler<UseCreditsCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  execute({ input }: UseCreditsCommand): Promise<CommandOutcome> {
    const now = this.clock.now().toISOString();
    return this.executor.execute({
      type: 'UseCredits',
      usageId: this.ids.next(),
      rate: this.catalog.findRate(input.service, now) ?? null,
      now,
      ...input,
    });
  }
}
