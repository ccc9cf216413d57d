// What one append costs the Postgres server, by the number of streams in the batch: appends
// through the service's own PostgresEventStore.appendBatch (ledger_append_events), one in
// flight at a time, each stream getting one CreditsUsed-sized event, on a scratch database
// that is dropped afterwards. CPU comes from bench/lib/load.mjs' cpuMeter (/proc): Postgres is
// this database's backends and the server's own processes (so the WAL writer's share of the
// commits is in it), Node is this process.
//
//   npm run -s build && node bench/append-cost.mjs [streams per call, comma-separated] [events per size]
//   node bench/append-cost.mjs 1,4,16,64 6000
//
// BENCH_DATABASE_URL picks the server (default the local one). A diagnostic, not part of `npm run bench`.
import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchSession } from './lib/harness.mjs';
import { cpuMeter } from './lib/load.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { PgSqlClient } = require(join(ROOT, 'dist/infrastructure/postgres/sql-client.js'));
const { PostgresEventStore } = require(join(ROOT, 'dist/infrastructure/event-store/postgres-event-store.js'));

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const sizes = (process.argv[2] ?? '1,4,16,64').split(',').map(Number);
const eventsPerSize = Number(process.argv[3] ?? 6000);
const ACCOUNTS = 2000;

const hashOf = (value) => createHash('sha256').update(value).digest('hex');
const usedEvent = (accountId) => ({
  eventId: randomUUID(),
  type: 'CreditsUsed',
  data: {
    accountId,
    commandId: `request:${randomUUID()}`,
    requestHash: hashOf(accountId),
    occurredAt: new Date().toISOString(),
    usageId: randomUUID(),
    service: 'sms',
    unit: 'message',
    quantity: 1,
    rateCardVersion: '2026-01-01',
    unitPriceMillicredits: 1000,
    per: 1,
    chargedMillicredits: 1000,
    draws: [{ lotId: `grant-${accountId}`, millicredits: 1000 }],
    metadata: {},
  },
  metadata: { schemaVersion: 1, prevHash: hashOf('previous'), hash: hashOf('this') },
});

// The scratch database is dropped at the end, also on failure and Ctrl-C.
const session = scratchSession({ serverUrl, prefix: `ledger_bench_append_${randomUUID().slice(0, 8)}`, say: (line) => process.stderr.write(`${line}\n`) });
const { name: database, url } = await session.createDatabase('log');
const sql = PgSqlClient.connect(url, 4);
try {
  const store = await PostgresEventStore.open(sql);
  const expected = new Array(ACCOUNTS).fill('no_stream');
  let next = 0;
  const appendOnce = async (streams) => {
    const accounts = Array.from({ length: streams }, () => next++ % ACCOUNTS);
    const outcomes = await store.appendBatch(
      accounts.map((account) => ({ streamId: `credit-account-a${account}`, events: [usedEvent(`a${account}`)], expected: expected[account] })),
    );
    outcomes.forEach((outcome, index) => {
      if (!outcome.ok) throw new Error(`append to a${accounts[index]} refused`);
      expected[accounts[index]] = outcome.nextExpectedRevision;
    });
  };
  // Postgres: this database's backends and the server's own processes (the WAL writer among them).
  const meter = cpuMeter(() => ({}), database);
  /** CPU ms from a `cpuMeter` share, in % of one core, over `seconds`. */
  const cpuMs = (percent, seconds) => percent * seconds * 10;
  for (const streams of sizes) {
    const calls = Math.max(50, Math.floor(eventsPerSize / streams));
    for (let warm = 0; warm < 20; warm += 1) await appendOnce(streams);
    const from = meter.snapshot();
    for (let call = 0; call < calls; call += 1) await appendOnce(streams);
    const used = meter.since(from);
    const elapsed = used.seconds * 1000;
    const postgresMs = cpuMs(used.postgresPercent, used.seconds);
    const nodeMs = cpuMs(used.loadGeneratorPercent, used.seconds);
    console.log(
      JSON.stringify({
        streamsPerCall: streams,
        calls,
        msPerCall: Number((elapsed / calls).toFixed(3)),
        postgresCpuMsPerCall: Number((postgresMs / calls).toFixed(3)),
        postgresCpuMsPerEvent: Number((postgresMs / calls / streams).toFixed(4)),
        nodeCpuMsPerCall: Number((nodeMs / calls).toFixed(3)),
      }),
    );
  }
  await store.close();
} finally {
  await sql.close();
  await session.cleanUp();
}
