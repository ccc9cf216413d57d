import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { CLOCK, type Clock } from '../clock.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { PROJECTION_PROGRESS, READ_MODELS, type BalanceView, type ProjectionProgress, type ReadModels } from '../read-models.port';
import { awaitPosition } from '../read-your-writes';
import { GetBalanceQuery, type BalanceForecast } from './get-balance.query';

const BURN_WINDOW_MS = 60 * 60 * 1000;

@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery, BalanceView & BalanceForecast> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: ReadModels,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId, minPosition }: GetBalanceQuery) {
    // The burn rate is read from the history, so both must have reached the position.
    await awaitPosition(this.progress, ['balances', 'transactions'], minPosition, this.settings.readYourWritesTimeoutMs);
    const now = this.clock.now();
    const [view, burn] = await Promise.all([
      this.readModels.balance(accountId),
      this.readModels.spentSince(accountId, new Date(now.getTime() - BURN_WINDOW_MS)),
    ]);
    return { ...view, asOf: now.toISOString(), burnRatePerHourMillicredits: burn };
  }
}
