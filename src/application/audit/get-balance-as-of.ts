import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { accountStreamId } from '../../domain/account.events';
import { fold, initialAccountState, type AccountState } from '../../domain/account.state';
import { decodeAccountEvent, positionNumber } from '../accounts/account-event-codec';
import { EVENT_STORE, type EventStore } from '../event-store.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';

export interface BalanceAsOf {
  readonly accountId: string;
  readonly asOf: string;
  readonly state: AccountState;
  /** Global position and stream position of the last event recorded by then; null if none was. */
  readonly position: number | null;
  readonly streamPosition: number | null;
  readonly eventsApplied: number;
}

/**
 * The balance at a past instant, replayed from the log itself (never from a snapshot or
 * a read model): every event of the account recorded at or before `asOf`.
 */
export class GetBalanceAsOfQuery extends Query<BalanceAsOf> {
  constructor(
    readonly accountId: string,
    readonly asOf: Date,
  ) {
    super();
  }
}

@QueryHandler(GetBalanceAsOfQuery)
export class GetBalanceAsOfHandler implements IQueryHandler<GetBalanceAsOfQuery, BalanceAsOf> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  async execute({ accountId, asOf }: GetBalanceAsOfQuery): Promise<BalanceAsOf> {
    // Only balances matter here: keep no idempotency window while folding.
    const options = { idempotencyRetentionMs: 0 };
    const streamId = accountStreamId(accountId);
    let answer: BalanceAsOf = { accountId, asOf: asOf.toISOString(), state: initialAccountState, position: null, streamPosition: null, eventsApplied: 0 };
    for (let revision = 0; ; ) {
      const page = await this.store.readStream(streamId, revision, this.settings.streamPageSize);
      const recorded = page.filter((event) => event.recordedAt.getTime() <= asOf.getTime());
      const last = recorded.at(-1);
      if (last !== undefined) {
        answer = {
          ...answer,
          state: fold(answer.state, recorded.map((event) => ({ event: decodeAccountEvent(event), position: positionNumber(event.position) })), options),
          position: positionNumber(last.position),
          streamPosition: last.streamRevision,
          eventsApplied: answer.eventsApplied + recorded.length,
        };
      }
      const end = page.at(-1);
      if (end === undefined || page.length < this.settings.streamPageSize) return answer;
      revision = end.streamRevision + 1;
    }
  }
}
