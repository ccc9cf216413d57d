import { AccountCommandExecutor } from '../../src/application/accounts/account-command-executor';
import { AccountRepository } from '../../src/application/accounts/account-repository';
import { accountStreamId } from '../../src/domain/account.events';
import { loadConfig } from '../../src/infrastructure/config/app-config';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { ledgerSettings } from '../../src/infrastructure/ledger.module';
import { PostgresSnapshotStore } from '../../src/infrastructure/postgres/postgres-snapshot-store';
import { uuidGenerator } from '../../src/infrastructure/system-clock';
import { grant, recordOf, spend } from '../support/account-commands';
import { testDatabaseTargets, type TestDatabase } from '../support/databases';

/**
 * Two ids of one window sharing an archive key happens about n²/2^54 times per window
 * (6e-8 with 33,000 ids): too rare to find by search, so the key function is replaced
 * for ids starting 'collide-' (everything else keeps the real SHA-256 key).
 */
const COLLIDING_KEY = 42;
jest.mock('../../src/application/accounts/archived-commands', () => {
  const actual = jest.requireActual<typeof import('../../src/application/accounts/archived-commands')>(
    '../../src/application/accounts/archived-commands',
  );
  return { ...actual, archiveKey: (id: string) => (id.startsWith('collide-') ? COLLIDING_KEY : actual.archiveKey(id)) };
});

describe.each(testDatabaseTargets())('archived commands whose ids share a key, on %s', (_name, createDatabase) => {
  let database: TestDatabase;
  let events: PostgresEventStore;

  beforeAll(async () => {
    database = await createDatabase();
    events = await PostgresEventStore.open(database.client);
  });

  afterAll(async () => {
    await events.close();
    await database.drop();
  });

  const writer = async () => {
    const settings = { ...ledgerSettings(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(40) })), snapshotEveryEvents: 100 };
    const accounts = new AccountRepository(events, uuidGenerator, settings, await PostgresSnapshotStore.open(database.client));
    return { accounts, executor: new AccountCommandExecutor(accounts, events, settings) };
  };

  it('answers a repeat of each as the first time, never applies either twice, and refuses a new id with that key', async () => {
    const { executor, accounts } = await writer();
    await executor.execute(grant('shared', 1_000_000));
    const firstA = await executor.execute(spend('shared', 2, 'collide-a'));
    const firstB = await executor.execute(spend('shared', 3, 'collide-b'));
    await Promise.all(Array.from({ length: 120 }, () => executor.execute(spend('shared', 1))));
    // Wait for the background snapshot that archives both.
    for (let waited = 0; (await accounts.load('shared')).archivedCommands.recordedAt(COLLIDING_KEY) === undefined; waited += 50) {
      if (waited > 10_000) throw new Error('no snapshot archived the two commands');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const fresh = await writer();
    const againA = await fresh.executor.execute(spend('shared', 2, 'collide-a'));
    expect(againA.status).toBe('replayed');
    expect(recordOf(againA)).toEqual(recordOf(firstA));
    // A's recall must not make the index forget B, which shares its key.
    const againB = await fresh.executor.execute(spend('shared', 3, 'collide-b'));
    expect(againB.status).toBe('replayed');
    expect(recordOf(againB)).toEqual(recordOf(firstB));
    // A new id with the same key finds no record: refused, not applied.
    await expect(fresh.executor.execute(spend('shared', 4, 'collide-c'))).rejects.toThrow(/archived records of collide-c are missing/);

    const stream = await events.readStream(accountStreamId('shared'), 0, 1_000);
    const ids = stream.map((event) => (event.data as { commandId: string }).commandId);
    expect(ids.filter((id) => id === 'collide-a')).toHaveLength(1);
    expect(ids.filter((id) => id === 'collide-b')).toHaveLength(1);
    expect(ids).not.toContain('collide-c');
  });
});
