import { Query } from '@nestjs/cqrs';
import type { BalanceView } from '../read-models.port';

export class GetBalanceQuery extends Query<BalanceView & { readonly asOf: string }> {
  constructor(
    readonly accountId: string,
    readonly minPosition: number | undefined,
  ) {
    super();
  }
}
