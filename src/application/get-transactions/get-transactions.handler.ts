import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { PROJECTION_PROGRESS, READ_MODELS, type ProjectionProgress, type ReadModels } from '../read-models.port';
import { awaitPosition } from '../read-your-writes';
import { GetTransactionsQuery, type TransactionPage } from './get-transactions.query';

/** Newest first, keyed on each entry's place in its account's history: new entries never shift a page. */
@QueryHandler(GetTransactionsQuery)
export class GetTransactionsHandler implements IQueryHandler<GetTransactionsQuery, TransactionPage> {
  constructor(
    @Inject(READ_MODELS) private readonly readModels: ReadModels,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  async execute({ request, minPosition }: GetTransactionsQuery): Promise<TransactionPage> {
    await awaitPosition(this.progress, ['transactions'], minPosition, this.settings.readYourWritesTimeoutMs);
    const rows = await this.readModels.transactions({ ...request, limit: request.limit + 1 });
    const items = rows.slice(0, request.limit);
    const last = items.at(-1);
    return { items, nextBeforeSequence: rows.length > request.limit && last !== undefined ? last.sequence : null };
  }
}
