import { parentPort } from 'node:worker_threads';
import { DEFAULT_RUNNER_OPTIONS, ProjectionRunner } from '../projections/projection-runner';
import { PROJECTIONS } from '../projections/projections.registry';
import { loadConfig } from './config/app-config';
import { PostgresEventStore } from './event-store/postgres-event-store';
import { openEventStore, openSqlClient } from './stores';
import { errorText, type FromProjectionsWorker, type ToProjectionsWorker } from './projection-thread';

/**
 * The projection group in a worker thread (see ProjectionThread): its own connections,
 * its own read of the log, and an event loop that no HTTP request delays, so each of a
 * batch's statements goes out as soon as the one before has answered.
 */
const run = async (): Promise<void> => {
  const port = parentPort;
  if (port === null) throw new Error('projections-worker runs as a worker thread');
  const say = (message: FromProjectionsWorker) => port.postMessage(message);
  const config = loadConfig(process.env);
  const sql = await openSqlClient(config);
  const store = await openEventStore(config, sql);
  const runner = new ProjectionRunner(sql, store, PROJECTIONS, {
    ...DEFAULT_RUNNER_OPTIONS,
    onError: (projection, error) => say({ kind: 'error', projection, message: errorText(error) }),
  });
  port.on('message', (message: ToProjectionsWorker) => {
    if (message === 'appended') {
      if (store instanceof PostgresEventStore) store.notifyAppended();
      return;
    }
    void (async () => {
      await runner.stop();
      await store.close();
      await sql.close();
      port.close();
    })();
  });
  await runner.start();
  say({ kind: 'started' });
};

run().catch((error: unknown) => {
  parentPort?.postMessage({ kind: 'failed', message: errorText(error) } satisfies FromProjectionsWorker);
  process.exitCode = 1;
});
