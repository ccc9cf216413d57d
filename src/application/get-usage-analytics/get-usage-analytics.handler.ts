import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { PROJECTION_PROGRESS, READ_MODELS, type ProjectionProgress, type ReadModels, type UsageAnalytics } from '../read-models.port';
import { awaitPosition } from '../read-your-writes';
import { GetUsageAnalyticsQuery } from './get-usage-analytics.query';

@QueryHandler(GetUsageAnalyticsQuery)
export class GetUsageAnalyticsHandler implements IQueryHandler<GetUsageAnalyticsQuery, UsageAnalytics> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: ReadModels,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  async execute({ range, topAccounts, minPosition }: GetUsageAnalyticsQuery): Promise<UsageAnalytics> {
    await awaitPosition(this.progress, ['usage_daily'], minPosition, this.settings.readYourWritesTimeoutMs);
    return this.readModels.usageAnalytics(range, topAccounts);
  }
}
