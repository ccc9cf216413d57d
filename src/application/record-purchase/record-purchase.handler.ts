import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CatalogService } from '../catalog/catalog.service';
import { CLOCK, ID_GENERATOR, type Clock, type IdGenerator } from '../clock.port';
import { RecordPurchaseCommand } from './record-purchase.command';

@CommandHandler(RecordPurchaseCommand)
export class RecordPurchaseHandler implements ICommandHandler<RecordPurchaseCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  execute({ input }: RecordPurchaseCommand): Promise<CommandOutcome> {
    return this.executor.execute({
      type: 'RecordPurchase',
      ...input,
      purchaseId: this.ids.next(),
      creditsMillicredits: this.catalog.package(input.packageId).creditsMillicredits,
      now: this.clock.now().toISOString(),
    });
  }
}
