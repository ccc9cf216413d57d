import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountStreamId } from '../../domain/account.events';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../event-store.port';

/** An account's events exactly as stored, from a stream position on. */
export class GetAccountEventsQuery extends Query<readonly RecordedEvent[]> {
  constructor(
    readonly accountId: string,
    readonly fromStreamPosition: number,
    readonly limit: number,
  ) {
    super();
  }
}

@QueryHandler(GetAccountEventsQuery)
export class GetAccountEventsHandler implements IQueryHandler<GetAccountEventsQuery, readonly RecordedEvent[]> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  execute({ accountId, fromStreamPosition, limit }: GetAccountEventsQuery): Promise<readonly RecordedEvent[]> {
    return this.store.readStream(accountStreamId(accountId), fromStreamPosition, limit);
  }
}
