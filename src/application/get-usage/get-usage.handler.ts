import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { PROJECTION_PROGRESS, READ_MODELS, type ProjectionProgress, type ReadModels, type UsageTotal } from '../read-models.port';
import { awaitPosition } from '../read-your-writes';
import { GetUsageQuery } from './get-usage.query';

@QueryHandler(GetUsageQuery)
export class GetUsageHandler implements IQueryHandler<GetUsageQuery, readonly UsageTotal[]> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: ReadModels,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  async execute({ accountId, range, groupBy, minPosition }: GetUsageQuery): Promise<readonly UsageTotal[]> {
    await awaitPosition(this.progress, ['usage_daily'], minPosition, this.settings.readYourWritesTimeoutMs);
    return this.readModels.usage(accountId, range, groupBy);
  }
}
