import 'reflect-metadata';
import { parseArgs } from 'node:util';
import type { EventStore } from '../../application/event-store.port';
import type { Projection } from '../../projections/projection';
import { DEFAULT_RUNNER_OPTIONS } from '../../projections/projection-runner';
import { PROJECTIONS, projectionNamed } from '../../projections/projections.registry';
import { ProjectionsHost } from '../../projections/projections-host';
import { rebuildProjection, type RebuildProgress } from '../../projections/rebuild';
import { ConfigError, loadConfig } from '../config/app-config';
import type { SqlClient } from '../postgres/sql-client';
import { openEventStore, openSqlClient } from '../stores';

const USAGE = `usage:
  npm run projections                                  run every projection until stopped (SIGINT/SIGTERM)
  npm run projections:rebuild [-- --projection NAME]   rebuild one projection (or all) online and swap it in
projections: ${PROJECTIONS.map((projection) => projection.name).join(', ')}`;

const REBUILD_BATCH_SIZE = 5000;

const say = (line: string) => process.stdout.write(`${line}\n`);

const formatProgress = ({ projection, eventsDone, eventsPerSecond, etaSeconds }: RebuildProgress): string =>
  `${projection}: ${eventsDone.toLocaleString('en-US')} events, ${Math.round(eventsPerSecond).toLocaleString('en-US')} events/s, ETA ${
    etaSeconds === null ? '?' : `${Math.ceil(etaSeconds)} s`
  }`;

/** On a terminal one line redrawn in place; otherwise a plain log line per update. */
const progressPrinter = () =>
  process.stdout.isTTY
    ? (progress: RebuildProgress) => process.stdout.write(`\r\x1b[2K${formatProgress(progress)}`)
    : (progress: RebuildProgress) => say(formatProgress(progress));

const rebuild = async (sql: SqlClient, store: EventStore, selected: readonly Projection[]): Promise<void> => {
  for (const projection of selected) {
    const result = await rebuildProjection(sql, store, projection, { batchSize: REBUILD_BATCH_SIZE, onProgress: progressPrinter() });
    if (process.stdout.isTTY) process.stdout.write('\n');
    say(
      `${result.projection}: rebuilt from ${result.eventsApplied.toLocaleString('en-US')} events in ${Math.round(result.seconds * 10) / 10} s, swapped in at position ${String(result.position)}`,
    );
  }
};

const run = async (sql: SqlClient, store: EventStore): Promise<void> => {
  const host = new ProjectionsHost(sql, store, PROJECTIONS, {
    ...DEFAULT_RUNNER_OPTIONS,
    onError: (name, error) => process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`),
  });
  await host.start();
  say(`projections running: ${PROJECTIONS.map((projection) => projection.name).join(', ')} (stop with Ctrl-C)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await host.stop();
};

const main = async (): Promise<number> => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { projection: { type: 'string' }, help: { type: 'boolean' } },
  });
  const command = positionals[0];
  if (values.help || (command !== 'run' && command !== 'rebuild')) {
    say(USAGE);
    return values.help ? 0 : 2;
  }
  const selected = values.projection === undefined ? PROJECTIONS : [projectionNamed(values.projection)];
  if (selected.some((projection) => projection === undefined)) {
    process.stderr.write(`unknown projection ${JSON.stringify(values.projection)}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig(process.env);
  const sql = await openSqlClient(config);
  const store = await openEventStore(config, sql);
  try {
    if (command === 'run') await run(sql, store);
    else await rebuild(sql, store, selected as readonly Projection[]);
    return 0;
  } finally {
    await store.close();
    await sql.close();
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
    else process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
