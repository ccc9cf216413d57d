// What archiving command records costs, per record and per snapshot: the same number of
// records written by many small snapshots (as early snapshots under the records budget
// write them) or by a few large ones (the regular interval). Runs PostgresSnapshotStore
// from dist/ against a scratch database on a real Postgres; no service.
//
// Usage: npm run bench:snapshots [-- --records N --sizes 32,200,1000 --accounts N --concurrency N]
//   --records      records archived per size (default 64,000)
//   --sizes        records per snapshot, one measurement each (default 32,200,1000)
//   --accounts     accounts the snapshots go round (default 2,000)
//   --concurrency  snapshot writes in flight at once, as the writer fires them (default 16)
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
import { randomUUID, createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { scratchSession } from './lib/harness.mjs';
import { cpuMeter } from './lib/load.mjs';

const require = createRequire(import.meta.url);
const { PgSqlClient } = require('../dist/infrastructure/postgres/sql-client.js');
const { PostgresSnapshotStore } = require('../dist/infrastructure/postgres/postgres-snapshot-store.js');
const { initialAccountState } = require('../dist/domain/account.state.js');

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '64000' },
    sizes: { type: 'string', default: '32,200,1000' },
    accounts: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const totalRecords = Number(values.records);
const sizes = values.sizes.split(',').map(Number);
const accounts = Number(values.accounts);
const concurrency = Number(values.concurrency);
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const say = (text) => process.stdout.write(`${text}\n`);

/** A spend's record as the writer keeps it (see CommandRecord). */
const record = (position, at) => ({
  commandId: randomUUID(),
  requestHash: createHash('sha256').update(randomUUID()).digest('hex'),
  recordedAt: new Date(at).toISOString(),
  event: { type: 'CreditsUsed', data: { usageId: randomUUID(), service: 'sms', quantity: 1, chargedMillicredits: 1000 } },
  balanceAfterMillicredits: 1_000_000_000 - position * 1000,
  availableAfterMillicredits: 1_000_000_000 - position * 1000,
  position,
});

const session = scratchSession({ serverUrl, prefix: `ledger_snapbench_${process.pid}`, say });
const rows = [];
try {
  for (const size of sizes) {
    const db = await session.createDatabase(`s${size}`);
    const sql = PgSqlClient.connect(db.url);
    const store = await PostgresSnapshotStore.open(sql);
    const snapshots = Math.ceil(totalRecords / size);
    // Every snapshot built first: only the writes are measured.
    const revisions = new Map();
    let position = 0;
    const start = Date.now() - 60_000;
    const work = Array.from({ length: snapshots }, (_, index) => {
      const streamId = `account-acct-${index % accounts}`;
      const commands = new Map();
      for (let n = 0; n < size; n += 1) {
        position += 1;
        const one = record(position, start + position);
        commands.set(one.commandId, one);
      }
      const revision = (revisions.get(streamId) ?? -1) + size;
      revisions.set(streamId, revision);
      const state = { ...initialAccountState, lots: [{ lotId: `lot-${index}`, source: 'grant', remainingMillicredits: 1_000_000_000, expiresAt: null, sequence: 0 }], commands };
      return { streamId, revision, position, lastHash: 'f'.repeat(64), state };
    });
    await sql.query('CHECKPOINT');
    const meter = cpuMeter(() => ({}), db.name);
    const before = meter.snapshot();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < work.length) {
          const snapshot = work[next++];
          await store.write(snapshot, start - 86_400_000);
        }
      }),
    );
    const cpu = meter.since(before);
    const records = snapshots * size;
    const nodeMs = (cpu.loadGeneratorPercent / 100) * cpu.seconds * 1000;
    const postgresMs = (cpu.postgresPercent / 100) * cpu.seconds * 1000;
    rows.push({
      size,
      snapshots,
      records,
      seconds: cpu.seconds,
      recordsPerSecond: Math.round(records / cpu.seconds),
      nodeUsPerRecord: Math.round((nodeMs * 1000) / records),
      postgresUsPerRecord: Math.round((postgresMs * 1000) / records),
      machineBusyPercent: cpu.machineBusyPercent,
    });
    say(JSON.stringify(rows.at(-1)));
    await sql.close();
    await session.dropDatabase(db.name);
  }
} finally {
  await session.cleanUp();
}
say('\n| records per snapshot | snapshots | seconds | records/s | Node µs per record | Postgres µs per record | machine busy |');
say('|---|---|---|---|---|---|---|');
for (const row of rows) {
  say(`| ${row.size} | ${row.snapshots} | ${row.seconds} | ${row.recordsPerSecond} | ${row.nodeUsPerRecord} | ${row.postgresUsPerRecord} | ${row.machineBusyPercent}% |`);
}
