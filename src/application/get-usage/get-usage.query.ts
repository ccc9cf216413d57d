import { Query } from '@nestjs/cqrs';
import type { UsageRange, UsageTotal } from '../read-models.port';

export class GetUsageQuery extends Query<readonly UsageTotal[]> {
  constructor(
    readonly accountId: string,
    readonly range: UsageRange,
    readonly groupBy: 'service' | 'day',
    readonly minPosition: number | undefined,
  ) {
    super();
  }
}
