import 'reflect-metadata';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { auditLog, type AuditProblem } from '../audit/log-auditor';
import { EXPORT_FORMATS, exportTransactions, type ExportFormat } from '../audit/transactions-export';
import type { EventStore } from '../../application/event-store.port';
import type { Projection } from '../../projections/projection';
import { DEFAULT_RUNNER_OPTIONS } from '../../projections/projection-runner';
import { PROJECTIONS, projectionNamed } from '../../projections/projections.registry';
import { ProjectionsHost } from '../../projections/projections-host';
import { DEFAULT_REBUILD_BATCH_SIZE, rebuildProjections, type RebuildProgress } from '../../projections/rebuild';
import { ConfigError, loadConfig } from '../config/app-config';
import type { SqlClient } from '../postgres/sql-client';
import { openEventStore, openSqlClient } from '../stores';

const USAGE = `usage: npm run ledger -- <command> [options]

  audit verify                   replay the whole log: check every hash chain, recompute every
                                 balance and compare the read models; exit 1 on any mismatch
  export transactions            stream transaction history to stdout (or --output FILE)
      [--account ID] [--from ISO-TIME] [--to ISO-TIME] [--format csv|jsonl] [--output FILE]
  projections run                run every projection until stopped (SIGINT/SIGTERM)
  projections rebuild [--projection NAME]
                                 rebuild one projection (or all) online and swap it in
  --help                         this text

The service's configuration applies (DATABASE_URL, EVENTSTORE_CONNECTION_STRING, LEDGER_DATA_DIR…).
Shortcuts: npm run projections, npm run projections:rebuild.
projections: ${PROJECTIONS.map((projection) => projection.name).join(', ')}`;

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

/** One read of the log feeds every selected projection; each is swapped in when it has caught up. */
const rebuild = async (sql: SqlClient, store: EventStore, selected: readonly Projection[]): Promise<void> => {
  const results = await rebuildProjections(sql, store, selected, { batchSize: DEFAULT_REBUILD_BATCH_SIZE, onProgress: progressPrinter() });
  if (process.stdout.isTTY) process.stdout.write('\n');
  for (const result of results) {
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

const verify = async (sql: SqlClient, store: EventStore): Promise<number> => {
  const tty = process.stdout.isTTY;
  const report = await auditLog(sql, store, {
    projections: PROJECTIONS,
    onProgress: ({ phase, eventsChecked, head }) => {
      if (tty) process.stdout.write(`\r\x1b[2K${phase}: ${eventsChecked.toLocaleString('en-US')} events checked${head === null ? '' : ` (log head at ${head})`}`);
    },
    onProblem: (problem) => {
      if (tty) process.stdout.write('\r\x1b[2K');
      say(formatProblem(problem));
    },
  });
  if (tty) process.stdout.write('\r\x1b[2K');
  say(
    `verified ${report.eventsChecked.toLocaleString('en-US')} events in ${report.streams} streams (${report.accounts} accounts); ` +
      `read models compared: ${report.readModelsCompared.join(', ') || 'none'}` +
      (report.readModelsNotCompared.length > 0 ? `; not compared (kept moving): ${report.readModelsNotCompared.join(', ')}` : ''),
  );
  say(report.problems.length === 0 ? 'OK: no mismatch' : `FAILED: ${report.problems.length} mismatch(es)`);
  return report.problems.length === 0 && report.readModelsNotCompared.length === 0 ? 0 : 1;
};

const formatProblem = (problem: AuditProblem): string =>
  `MISMATCH ${problem.check} account=${problem.account ?? '-'} position=${problem.position ?? '-'} ${problem.subject}: stored=${problem.stored} recomputed=${problem.recomputed}`;

const parseInstant = (name: string, value: string | undefined): Date | undefined => {
  if (value === undefined) return undefined;
  const instant = new Date(value);
  if (Number.isNaN(instant.getTime())) throw new UsageError(`--${name}: expected an ISO-8601 time, got ${JSON.stringify(value)}`);
  return instant;
};

class UsageError extends Error {}

const exportCommand = async (sql: SqlClient, values: Record<string, string | boolean | undefined>): Promise<number> => {
  const format = values['format'] ?? 'csv';
  if (typeof format !== 'string' || !(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format: expected csv or jsonl, got ${JSON.stringify(format)}`);
  }
  const stringOption = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const lines = Readable.from(
    exportTransactions(sql, {
      accountId: stringOption('account'),
      from: parseInstant('from', stringOption('from')),
      to: parseInstant('to', stringOption('to')),
      format: format as ExportFormat,
    }),
  );
  const output = stringOption('output');
  // pipeline() waits on the destination's back-pressure: only one page is ever in memory.
  await pipeline(lines, output === undefined ? process.stdout : createWriteStream(output));
  return 0;
};

const COMMANDS = ['audit verify', 'export transactions', 'projections run', 'projections rebuild'] as const;

const main = async (): Promise<number> => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      projection: { type: 'string' },
      account: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const command = positionals.slice(0, 2).join(' ');
  if (values.help || !(COMMANDS as readonly string[]).includes(command)) {
    (values.help ? process.stdout : process.stderr).write(`${USAGE}\n`);
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
    switch (command as (typeof COMMANDS)[number]) {
      case 'audit verify':
        return await verify(sql, store);
      case 'export transactions':
        return await exportCommand(sql, values);
      case 'projections run':
        await run(sql, store);
        return 0;
      case 'projections rebuild':
        await rebuild(sql, store, selected as readonly Projection[]);
        return 0;
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
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
