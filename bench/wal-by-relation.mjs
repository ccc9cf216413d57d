// A diagnostic, not part of `npm run bench`: which tables and indexes write the WAL while the
// service runs. It waits for a scratch database of `npm run bench:timeline`, lets the loop get
// going, notes the WAL position, waits --window seconds, and reads the records written between
// the two with pg_walinspect (PostgreSQL 15+), summed by relation and record type.
//
// Usage: node bench/wal-by-relation.mjs [--after 35] [--window 10] [--databases 'ledger_timeline_%_service'] &
//        node bench/stall-timeline.mjs --rate 2969 --accounts 10000 --duration 30 --warmup 20
//   --after: seconds from the database's creation to the window (funding and a 20 s warm-up come first)
//   The extension is created in a database of its own (ledger_walinspect_<random>), dropped at the end.
//   BENCH_DATABASE_URL: the server (default postgres://postgres@127.0.0.1:5432/postgres); needs a superuser.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: flags } = parseArgs({
  options: {
    after: { type: 'string', default: '35' },
    window: { type: 'string', default: '10' },
    databases: { type: 'string', default: 'ledger_timeline_%_service' },
  },
});
const serverUrl = new URL(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const urlOf = (database) => Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const inspector = `ledger_walinspect_${randomBytes(4).toString('hex')}`;

const admin = new pg.Client({ connectionString: serverUrl.toString() });
await admin.connect();
await admin.query(`CREATE DATABASE ${inspector}`);
try {
  const wal = new pg.Client({ connectionString: urlOf(inspector) });
  await wal.connect();
  try {
    await wal.query('CREATE EXTENSION pg_walinspect');
    let database;
    for (let tries = 0; tries < 240 && database === undefined; tries += 1) {
      database = (await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY oid DESC LIMIT 1', [flags.databases])).rows[0]?.datname;
      if (database === undefined) await sleep(250);
    }
    if (database === undefined) throw new Error(`no database like ${flags.databases} appeared within a minute`);
    await sleep(Number(flags.after) * 1000);
    const scratch = new pg.Client({ connectionString: urlOf(database) });
    await scratch.connect();
    const names = new Map();
    const learnNames = async () => {
      for (const row of (await scratch.query('SELECT relfilenode::text AS node, relname FROM pg_class WHERE relfilenode <> 0')).rows) names.set(row.node, row.relname);
    };
    await learnNames();
    const lsn = async () => (await wal.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
    const start = await lsn();
    await sleep(Number(flags.window) * 1000);
    const end = await lsn();
    await learnNames();
    await scratch.end();

    const { rows } = await wal.query(
      'SELECT resource_manager, record_type, record_length, block_ref FROM pg_get_wal_records_info($1, $2)',
      [start, end],
    );
    const sums = new Map();
    let bytes = 0;
    for (const row of rows) {
      const node = /rel \d+\/\d+\/(\d+)/.exec(row.block_ref ?? '')?.[1];
      const relation = node === undefined ? `(${row.resource_manager})` : (names.get(node) ?? `relfilenode ${node}`);
      const key = `${relation} ${row.resource_manager}/${row.record_type}`;
      const sum = sums.get(key) ?? { records: 0, bytes: 0 };
      sum.records += 1;
      sum.bytes += Number(row.record_length);
      sums.set(key, sum);
      bytes += Number(row.record_length);
    }
    console.log(`${database}: ${rows.length} WAL records, ${(bytes / 1e6).toFixed(1)} MB in ${flags.window} s (all databases of the server)`);
    for (const [key, sum] of [...sums].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 30)) {
      console.log(`${(sum.bytes / 1e6).toFixed(2).padStart(7)} MB ${((100 * sum.bytes) / bytes).toFixed(1).padStart(5)}% ${String(sum.records).padStart(8)} records  ${key}`);
    }
  } finally {
    await wal.end();
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${inspector}`);
  await admin.end();
}
