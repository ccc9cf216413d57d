// `npm run bench:hot`: the service's hot-account phase alone, repeated, with CPU per spend.
//
// Usage: npm run bench:hot [-- --runs N --warmup S --duration S --concurrency N] [-- --projections off|in|process]
//   --projections in       (default) the projections run inside the service, as `npm run bench` measures
//   --projections process  RUN_PROJECTIONS=false on the service, `ledger projections run` beside it
//   --projections off      RUN_PROJECTIONS=false and nothing else: no read models are kept (a bound, not a deployment)
//   BENCH_DATABASE_URL     the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres)
//
// Each run is a fresh scratch database, a fresh service process, one funded account and a
// closed loop on it; the database is dropped afterwards. It exists because one run says
// little on a shared 2-core machine: the same configuration has measured 0.31–0.55 ms of
// service CPU per spend from one run to the next (bench/README.md).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SignJWT } from 'jose';
import { closedLoop, cpuMeter, httpClient } from './lib/load.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'bench-secret-bench-secret-bench-secret-0000';
const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    projections: { type: 'string', default: 'in' },
  },
});
if (!['in', 'process', 'off'].includes(flags.projections)) throw new Error(`--projections must be in, process or off, not ${flags.projections}`);
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbUrl = (name) => Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();

const withAdmin = async (work) => {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
};

const token = (sub, role) =>
  new SignJWT({ role }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

const stop = async (child) => {
  if (child === null || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
};

const oneRun = async () => {
  const database = `ledger_hot_${randomBytes(4).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${database}`));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const env = { ...process.env, DATABASE_URL: dbUrl(database), AUTH_JWT_SECRET: SECRET, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
  if (flags.projections !== 'in') env.RUN_PROJECTIONS = 'false';
  delete env.NODE_ENV;
  delete env.EVENTSTORE_CONNECTION_STRING;
  const service = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  let projections = null;
  try {
    const deadline = performance.now() + 60_000;
    for (;;) {
      if (await fetch(`http://127.0.0.1:${port}/health`).then((res) => res.ok, () => false)) break;
      if (service.exitCode !== null || performance.now() > deadline) throw new Error('the service did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (flags.projections === 'process') {
      projections = spawn(process.execPath, [join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js'), 'projections', 'run'], { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const base = `http://127.0.0.1:${port}`;
    const grant = await fetch(`${base}/api/admin/accounts/hot-account/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token('bench-admin', 'admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credits: '100000000', reason: 'bench' }),
    });
    if (grant.status !== 201) throw new Error(`the grant answered ${grant.status}`);
    const headers = { authorization: `Bearer ${await token('bench', 'service')}` };
    const concurrency = Number(flags.concurrency);
    const client = httpClient(base, concurrency);
    const meter = cpuMeter(() => ({ server: service.pid, ...(projections === null ? {} : { projections: projections.pid }) }), database);
    const result = await closedLoop({
      client,
      request: () => ({ method: 'POST', path: '/api/credits/use', headers, body: { service: 'sms', quantity: 1, accountId: 'hot-account' } }),
      concurrency,
      warmupMs: Number(flags.warmup) * 1000,
      durationMs: Number(flags.duration) * 1000,
      meter,
    });
    client.close();
    return result;
  } finally {
    await stop(projections);
    await stop(service);
    await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }
};

const rows = [];
for (let run = 1; run <= Number(flags.runs); run += 1) {
  const result = await oneRun();
  const { cpu } = result;
  const row = {
    run,
    projections: flags.projections,
    spendsPerSecond: result.throughput,
    failed: result.failed,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    serverCpuPercent: cpu.serverPercent,
    serverMsPerSpend: Math.round(((cpu.serverPercent * 10) / result.throughput) * 1000) / 1000,
    projectionsCpuPercent: cpu.projectionsPercent ?? null,
    postgresCpuPercent: cpu.postgresPercent,
    loadGeneratorCpuPercent: cpu.loadGeneratorPercent,
    othersCpuPercent: cpu.otherPercent,
  };
  rows.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}
const sorted = rows.map((row) => row.spendsPerSecond).sort((a, b) => a - b);
process.stdout.write(`median ${sorted[Math.floor(sorted.length / 2)]} spends/s over ${rows.length} runs (min ${sorted[0]}, max ${sorted.at(-1)})\n`);
