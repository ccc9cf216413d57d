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
    const known = this.catalog.findPackage(input.packageId);
    return this.executor.execute({
      type: 'RecordPurchase',
      purchaseId: this.ids.next(),
      expected: known === undefined ? null : { creditsMillicredits: known.creditsMillicredits, priceCents: known.priceCents, currency: known.currency },
      now: this.clock.now().toISOString(),
      ...input,
    });
  }
}
