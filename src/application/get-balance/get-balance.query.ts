import { Query } from '@nestjs/cqrs';
import type { BalanceView } from '../read-models.port';

export interface BalanceForecast {
  readonly asOf: string;
  /** Credits spent over the last hour: the recent burn rate per hour. */
  readonly burnRatePerHourMillicredits: number;
}

export class GetBalanceQuery extends Query<BalanceView & BalanceForecast> {
  constructor(
    readonly accountId: string,
    readonly minPosition: number | undefined,
  ) {
    super();
  }
}
