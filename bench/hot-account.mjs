// `npm run bench:hot`: the service's hot-account phase alone, repeated, with CPU per spend.
//
// Usage: npm run bench:hot [-- --runs N --warmup S --duration S --concurrency N] [-- --projections off|in|process]
//   --projections in       (default) the projections run inside the service, as `npm run bench` measures
//   --projections process  RUN_PROJECTIONS=false on the service, `ledger projections run` beside it
//   --projections off      RUN_PROJECTIONS=false and nothing else: no read models are kept (a bound, not a deployment)
//   --with-b2              before each run of the service, the same closed loop on B2 (the naive design, one hot
//                          account; bench/lib/naive-server.mjs): each run then says spends/s as a ratio to its own B2
//   BENCH_DATABASE_URL     the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres)
//
// Each run is a fresh scratch database, a fresh service process, one funded account and a
// closed loop on it; the database is dropped afterwards (also on failure and Ctrl-C). It
// exists because one run says little on a shared 2-core machine: one configuration's
// throughput has moved by up to 36% from one run to the next (bench/README.md).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closedLoop, cpuMeter, httpClient } from './lib/load.mjs';
import { HOT_ACCOUNT, HOT_CREDITS, ROOT, benchServiceNodeArgs, freePort, scratchSession, serviceCommand, serviceEnv, spendRequests, startNaive, stopChild, token } from './lib/harness.mjs';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    projections: { type: 'string', default: 'in' },
    'with-b2': { type: 'boolean', default: false },
  },
});
if (!['in', 'process', 'off'].includes(flags.projections)) throw new Error(`--projections must be in, process or off, not ${flags.projections}`);
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// BENCH_SERVICE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the service's node: a profiling aid.
const serviceNodeArgs = benchServiceNodeArgs();
const say = (line) => process.stderr.write(`${line}\n`);
const session = scratchSession({ serverUrl, prefix: `ledger_hot_${randomBytes(4).toString('hex')}`, say });

const POOL_SIZE = 20; // the service's pg pool (src/infrastructure/stores.ts), used for B2 too

/** B2: the naive design on the hot account, the same closed loop. */
const baselineRun = async (run) => {
  const { base, server, databaseName } = await startNaive(session, { suffix: `naive${run}`, accounts: 0, poolSize: POOL_SIZE });
  try {
    const concurrency = Number(flags.concurrency);
    const client = httpClient(base, concurrency);
    const result = await closedLoop({
      client,
      request: spendRequests('/api/credits/use', await token('bench', 'service'), [HOT_ACCOUNT]),
      concurrency,
      warmupMs: Number(flags.warmup) * 1000,
      durationMs: Number(flags.duration) * 1000,
    });
    client.close();
    if (result.failed > 0) throw new Error(`B2: ${result.failed} spends failed (${result.firstError})`);
    return result.throughput;
  } finally {
    await stopChild(server);
    await session.dropDatabase(databaseName);
  }
};

const oneRun = async (run) => {
  const database = await session.createDatabase(`run${run}`);
  const port = await freePort();
  const env = serviceEnv({ databaseUrl: database.url, port });
  if (flags.projections !== 'in') env.RUN_PROJECTIONS = 'false';
  const base = `http://127.0.0.1:${port}`;
  let service = null;
  let projections = null;
  try {
    service = await session.startChild(serviceCommand(serviceNodeArgs), env, async () => (await fetch(`${base}/health`)).ok, 'the service');
    if (flags.projections === 'process') {
      projections = await session.startChild([join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js'), 'projections', 'run'], env, async () => true, 'the projections process');
    }
    const grant = await fetch(`${base}/api/admin/accounts/${HOT_ACCOUNT}/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token('bench-admin', 'admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credits: String(HOT_CREDITS), reason: 'bench' }),
    });
    if (grant.status !== 201) throw new Error(`the grant answered ${grant.status}`);
    const concurrency = Number(flags.concurrency);
    const client = httpClient(base, concurrency);
    const namedPids = () => ({ server: service.pid, ...(projections === null ? {} : { projections: projections.pid }) });
    const result = await closedLoop({
      client,
      request: spendRequests('/api/credits/use', await token('bench', 'service'), [HOT_ACCOUNT]),
      concurrency,
      warmupMs: Number(flags.warmup) * 1000,
      durationMs: Number(flags.duration) * 1000,
      meter: cpuMeter(namedPids, database.name),
    });
    client.close();
    return result;
  } finally {
    await stopChild(projections);
    await stopChild(service);
    await session.dropDatabase(database.name);
  }
};

const rows = [];
for (let run = 1; run <= Number(flags.runs); run += 1) {
  const b2 = flags['with-b2'] ? await baselineRun(run) : null;
  const result = await oneRun(run);
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
    ...(b2 === null ? {} : { b2SpendsPerSecond: b2, ratioToB2: Math.round((result.throughput / b2) * 100) / 100 }),
  };
  rows.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}
const sorted = rows.map((row) => row.spendsPerSecond).sort((a, b) => a - b);
const middle = Math.floor(sorted.length / 2);
const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
process.stdout.write(`median ${median} spends/s over ${rows.length} runs (min ${sorted[0]}, max ${sorted.at(-1)})\n`);
if (flags['with-b2']) {
  const ratios = rows.map((row) => row.ratioToB2).sort((a, b) => a - b);
  const half = Math.floor(ratios.length / 2);
  const medianRatio = ratios.length % 2 === 1 ? ratios[half] : (ratios[half - 1] + ratios[half]) / 2;
  process.stdout.write(`ratio to B2: median ${medianRatio} over ${rows.length} runs (min ${ratios[0]}, max ${ratios.at(-1)})\n`);
}
