import { EventStoreDbEventStore } from '../../src/infrastructure/event-store/eventstoredb-event-store';
import { describeEventStoreContract } from './event-store.contract';

/**
 * The contract suite on a real EventStoreDB, e.g. `docker compose up eventstore` and
 * EVENTSTORE_CONNECTION_STRING=esdb://localhost:2113?tls=false. The server keeps every
 * earlier run's streams: the suite writes to fresh `credit-account-contract-<uuid>`
 * streams and asserts only on its own events, so the store is limited to that prefix.
 */
const CONTRACT_STREAM_PREFIXES = ['credit-account-contract-'];

const connectionString = process.env['EVENTSTORE_CONNECTION_STRING'];

if (connectionString) {
  describeEventStoreContract('eventstoredb', async () => {
    const store = EventStoreDbEventStore.connect(connectionString, CONTRACT_STREAM_PREFIXES);
    return { store, dispose: () => store.close() };
  });
} else {
  describe.skip('eventstoredb contract (set EVENTSTORE_CONNECTION_STRING to run)', () => {
    it('runs against a real EventStoreDB', () => undefined);
  });
}
