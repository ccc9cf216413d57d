import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { CLOCK, type Clock } from '../clock.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { PROJECTION_PROGRESS, READ_MODELS, type BalanceView, type ProjectionProgress, type ReadModels } from '../read-models.port';
import { awaitPosition } from '../read-your-writes';
import { GetBalanceQuery } from './get-balance.query';

@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery, BalanceView & { readonly asOf: string }> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: ReadModels,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId, minPosition }: GetBalanceQuery) {
    await awaitPosition(this.progress, ['balances'], minPosition, this.settings.readYourWritesTimeoutMs);
    return { ...(await this.readModels.balance(accountId)), asOf: this.clock.now().toISOString() };
  }
}
