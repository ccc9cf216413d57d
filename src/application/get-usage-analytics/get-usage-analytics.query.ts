import { Query } from '@nestjs/cqrs';
import type { UsageAnalytics, UsageRange } from '../read-models.port';

export class GetUsageAnalyticsQuery extends Query<UsageAnalytics> {
  constructor(
    readonly range: UsageRange,
    readonly topAccounts: number,
    readonly minPosition: number | undefined,
  ) {
    super();
  }
}
