import { Inject, Injectable } from '@nestjs/common';
import { accountStreamId, type AccountEvent } from '../../domain/account.events';
import { fold, initialAccountState, type AccountState } from '../../domain/account.state';
import { ID_GENERATOR, type IdGenerator } from '../clock.port';
import { EVENT_STORE, type AppendResult, type EventStore, type ExpectedRevision } from '../event-store.port';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';
import { decodeAccountEvent, encodeAccountEvent, positionNumber } from './account-event-codec';

export interface LoadedAccount {
  readonly state: AccountState;
  readonly expectedRevision: ExpectedRevision;
  /** Global position of the stream's last event; 0 for a stream never written. */
  readonly position: number;
}

@Injectable()
export class AccountRepository {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  async load(accountId: string): Promise<LoadedAccount> {
    const streamId = accountStreamId(accountId);
    const options = { idempotencyRetentionMs: this.settings.idempotencyRetentionMs };
    let loaded: LoadedAccount = { state: initialAccountState, expectedRevision: 'no_stream', position: 0 };
    for (let revision = 0; ; ) {
      const page = await this.store.readStream(streamId, revision, this.settings.streamPageSize);
      const last = page.at(-1);
      if (last === undefined) return loaded;
      const events = page.map((recorded) => ({ event: decodeAccountEvent(recorded), position: positionNumber(recorded.position) }));
      loaded = {
        state: fold(loaded.state, events, options),
        expectedRevision: last.streamRevision,
        position: positionNumber(last.position),
      };
      if (page.length < this.settings.streamPageSize) return loaded;
      revision = last.streamRevision + 1;
    }
  }

  append(accountId: string, events: readonly AccountEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.store.append(
      accountStreamId(accountId),
      events.map((event) => encodeAccountEvent(event, this.ids.next())),
      expected,
    );
  }
}
