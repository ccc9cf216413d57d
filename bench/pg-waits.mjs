// A diagnostic, not part of `npm run bench`: what Postgres's backends of the benchmarks' scratch
// databases are doing, sampled from pg_stat_activity every 5 ms, and what WAL the server writes
// each second (pg_stat_wal). Run it beside `npm run bench:timeline` to see what a latency spike
// waited on: a commit in `IO:WALSync` (the WAL's fdatasync) holds up every commit queued behind
// it on `LWLock:WALWrite`.
//
// Usage: node bench/pg-waits.mjs [--seconds 75] [--databases 'ledger_timeline_%']
//   prints, per second, the WAL records, bytes and syncs; then the most frequent (state, wait
//   event, statement) of the sampled backends; then every sample of a transaction that had been
//   open longer than --slow-ms (default 15) or was waiting on a heavyweight lock, with its time,
//   so a slow window of the timeline can be matched by the clock.
//   BENCH_DATABASE_URL: the server (default postgres://postgres@127.0.0.1:5432/postgres)
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '75' },
    databases: { type: 'string', default: 'ledger_timeline_%' },
    'slow-ms': { type: 'string', default: '15' },
  },
});
const seconds = Number(flags.seconds);
const slowMs = Number(flags['slow-ms']);
const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const clock = () => new Date().toISOString().slice(11, 23);

const sampler = new pg.Client({ connectionString: url });
const walMeter = new pg.Client({ connectionString: url });
await Promise.all([sampler.connect(), walMeter.connect()]);

const readWal = async () =>
  (await walMeter.query('SELECT wal_records::bigint AS records, wal_bytes::bigint AS bytes, wal_sync::bigint AS syncs FROM pg_stat_wal')).rows[0];

const until = Date.now() + seconds * 1000;
const counts = new Map();
const slow = [];
let samples = 0;

const sampling = (async () => {
  while (Date.now() < until) {
    const { rows } = await sampler.query(
      `SELECT pid, state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS statement,
              extract(epoch FROM now() - xact_start) * 1000 AS open_ms
         FROM pg_stat_activity
        WHERE datname LIKE $1 AND state <> 'idle' AND pid <> pg_backend_pid()`,
      [flags.databases],
    );
    samples += 1;
    for (const row of rows) {
      const key = `${row.state} | ${row.wait_event_type ?? '-'}:${row.wait_event ?? '-'} | ${row.statement}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (row.wait_event_type === 'Lock' || Number(row.open_ms) > slowMs) slow.push(`${clock()} pid ${row.pid} open ${Math.round(Number(row.open_ms))} ms | ${key}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
})();

const metering = (async () => {
  let before = await readWal();
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await readWal();
    console.log(`${clock().slice(0, 8)} WAL: ${now.records - before.records} records, ${((now.bytes - before.bytes) / 1e6).toFixed(2)} MB, ${now.syncs - before.syncs} syncs`);
    before = now;
  }
})();

await Promise.all([sampling, metering]);
await Promise.all([sampler.end(), walMeter.end()]);
console.log(`\n${samples} samples of pg_stat_activity; the most frequent (count | state | wait event | statement):`);
for (const [key, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${String(count).padStart(6)} | ${key}`);
console.log(`\ntransactions open longer than ${slowMs} ms, or waiting on a lock (${slow.length} samples):`);
for (const line of slow) console.log(line);
