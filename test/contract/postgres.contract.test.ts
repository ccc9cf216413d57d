import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { testDatabaseTargets } from '../support/databases';
import { describeEventStoreContract } from './event-store.contract';

// Short polls keep the subscription tests quick; production uses the adapter's default.
const POLL_INTERVAL_MS = 20;

for (const [target, createDatabase] of testDatabaseTargets()) {
  describeEventStoreContract(`postgres-event-store on ${target}`, async () => {
    const database = await createDatabase();
    try {
      const store = await PostgresEventStore.open(database.client, { pollIntervalMs: POLL_INTERVAL_MS });
      return {
        store,
        dispose: async () => {
          await store.close();
          await database.drop();
        },
      };
    } catch (error) {
      await database.drop();
      throw error;
    }
  });
}
