import { Query } from '@nestjs/cqrs';
import type { TransactionPageRequest, TransactionView } from '../read-models.port';

export interface TransactionPage {
  readonly items: readonly TransactionView[];
  /** Sequence to pass as `beforeSequence` for the next page; null on the last page. */
  readonly nextBeforeSequence: number | null;
}

export class GetTransactionsQuery extends Query<TransactionPage> {
  constructor(
    readonly request: TransactionPageRequest,
    readonly minPosition: number | undefined,
  ) {
    super();
  }
}
