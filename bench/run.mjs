// `npm run bench`: the side-by-side benchmark of the performance issue (see bench/README.md).
//
// Usage: npm run bench [-- --quick] [-- --only http|replay] [-- --accounts N --events N --long-events N
//        --warmup S --duration S --open-duration S --concurrency N] [-- --projections-process]
//   --projections-process  run the projections in their own process (`ledger projections run`,
//                        RUN_PROJECTIONS=false on the service) instead of inside the service
//   BENCH_DATABASE_URL   the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres);
//                        each run creates its scratch databases there and drops them at the end.
//
// One run, on one Postgres, one concurrency:
//   B3  a bare Fastify endpoint (POST /bare): the ceiling of the HTTP layer
//   B1  the naive design over a bare Fastify server: UPDATE balances … WHERE balance >= cost,
//       INSERT a history row, one transaction; 10,000 accounts
//   B2  the same on one hot account
//   the service (as npm start runs it), same requests: closed loop for its maximum rate, an open
//   loop at half of it for latency and projection lag; then the event-volume figures (rebuild
//   over 1,000,000 events, loading an account of 1,000,000 events) through the service's own code.
// Writes bench/results/<YYYY-MM-DD>.json and regenerates the table in bench/README.md.
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { closedLoop, cpuMeter, httpClient, openLoop, summarize } from './lib/load.mjs';
import {
  ACCOUNT_CREDITS,
  HOT_ACCOUNT,
  HOT_CREDITS,
  ROOT,
  SECRET,
  accountIds,
  answers,
  benchServiceNodeArgs,
  cliNodeFlags,
  freePort,
  fundAccounts,
  scratchSession,
  serviceCommand,
  serviceEnv,
  spendRequests,
  startNaive,
  stopChild,
  token,
} from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const POOL_SIZE = 20; // the service's pg pool (src/infrastructure/stores.ts), used for the baselines too

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    accounts: { type: 'string' },
    events: { type: 'string' },
    'long-events': { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    'open-duration': { type: 'string' },
    concurrency: { type: 'string' },
    'warm-loads': { type: 'string' },
    'projections-process': { type: 'boolean', default: false },
    readme: { type: 'boolean' },
  },
});
const quick = flags.quick || process.env.BENCH_QUICK === '1';
const num = (flag, envName, full, small) => Number(flags[flag] ?? process.env[envName] ?? (quick ? small : full));
const options = {
  mode: quick ? 'quick' : 'full',
  accounts: num('accounts', 'BENCH_ACCOUNTS', 10_000, 1_000),
  rebuildEvents: num('events', 'BENCH_EVENTS', 1_000_000, 20_000),
  longEvents: num('long-events', 'BENCH_LONG_EVENTS', 1_000_000, 20_000),
  warmupSeconds: num('warmup', 'BENCH_WARMUP_S', 5, 2),
  closedSeconds: num('duration', 'BENCH_DURATION_S', 15, 5),
  openSeconds: num('open-duration', 'BENCH_OPEN_DURATION_S', 20, 5),
  concurrency: num('concurrency', 'BENCH_CONCURRENCY', 64, 64),
  warmLoads: num('warm-loads', 'BENCH_WARM_LOADS', 5, 3),
  fundConcurrency: 32,
  spreadDays: Number(process.env.BENCH_SPREAD_DAYS ?? 30), // seeded histories span this many days (read by bench/lib/replay.mjs)
  rebuildBatchSize: 20000, // DEFAULT_REBUILD_BATCH_SIZE (src/projections/rebuild.ts), the batch of `npm run projections:rebuild`
  only: flags.only ?? 'all',
  projectionsProcess: flags['projections-process'] ?? false,
};
if (!['all', 'http', 'replay'].includes(options.only)) {
  process.stderr.write(`--only must be http or replay, not ${options.only}\n`);
  process.exit(2);
}
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const runId = randomBytes(4).toString('hex');

// ---------------------------------------------------------------- progress and clean-up

const t0 = performance.now();
const clock = () => {
  const s = Math.floor((performance.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const say = (line) => process.stdout.write(`[${clock()}] ${line}\n`);
const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '—' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

const session = scratchSession({ serverUrl, prefix: `ledger_bench_${runId}`, say });
const { startChild, cleanUp, track } = session;
const createDatabase = async (suffix) => (await session.createDatabase(suffix)).url;


/** Runs bench/lib/replay.mjs in its own process (node given `nodeFlags`); its last stdout line is its JSON result. */
const replay = (args, nodeFlags = []) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, join(ROOT, 'bench', 'lib', 'replay.mjs'), ...args.map(String)], {
      cwd: ROOT,
      env: { ...process.env, AUTH_JWT_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`replay ${args[0]} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });


// ---------------------------------------------------------------- machine and Postgres facts

const machineInfo = () => ({
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  loadAverageAtStart: os.loadavg(),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
});

const postgresInfo = async () => {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const settings = {};
    for (const name of ['synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'full_page_writes', 'shared_buffers', 'max_connections', 'work_mem', 'wal_level', 'max_wal_size']) {
      settings[name] = (await client.query(`SELECT current_setting($1) AS value`, [name])).rows[0].value;
    }
    const version = (await client.query('SELECT version() AS v')).rows[0].v;
    const otherSessions = Number((await client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'")).rows[0].n) - 1;
    return { version, settings, otherClientSessionsAtStart: otherSessions };
  } finally {
    await client.end();
  }
};

const gitInfo = () => {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src');
  return { commit: git('rev-parse', 'HEAD'), srcUncommittedFiles: dirty === null ? null : dirty.split('\n').filter(Boolean).length };
};

/** Adds CPU milliseconds per successful request to a loop's result (server under test and all of Postgres). */
const perRequest = (r) => {
  if (r.cpu !== undefined && r.succeeded > 0) {
    const ms = (percent) => (percent === null || percent === undefined ? null : Math.round(((percent / 100) * r.cpu.seconds * 1000 * 1000) / r.succeeded) / 1000);
    r.cpu.serverMsPerRequest = ms(r.cpu.serverPercent);
    r.cpu.postgresMsPerRequest = ms(r.cpu.postgresPercent);
  }
  r.loadAverage = os.loadavg().map((l) => Math.round(l * 100) / 100);
  return r;
};
const line = (label, r) => {
  const rate = r.offeredRate === undefined ? `${fmt(r.throughput)}/s` : `offered ${fmt(r.offeredRate)}/s, achieved ${fmt(r.achievedRate)}/s`;
  const cpu = r.cpu === undefined ? '' : `; CPU: server ${fmt(r.cpu.serverPercent)}% (${fmt(r.cpu.serverMsPerRequest, 2)} ms/req), postgres ${fmt(r.cpu.postgresPercent)}%, bench ${fmt(r.cpu.loadGeneratorPercent)}%, others ${fmt(r.cpu.otherPercent)}% (machine ${fmt(r.cpu.machineBusyPercent)}% busy)`;
  say(`  ${label}: ${rate}, p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, failed ${r.failed}${r.unanswered ? `, unanswered ${r.unanswered}` : ''}${cpu}`);
};

// ---------------------------------------------------------------- baselines (B1, B2, B3)

const runBaselines = async (results) => {
  const { base, server } = await startNaive(session, { suffix: 'naive', accounts: options.accounts, poolSize: POOL_SIZE });
  const auth = await token('bench', 'service');
  const ids = accountIds(options.accounts);
  const meter = cpuMeter(() => ({ server: server.pid }), `ledger_bench_${runId}`);
  const loop = { concurrency: options.concurrency, warmupMs: options.warmupSeconds * 1000, durationMs: options.closedSeconds * 1000, meter };
  try {
    let client = httpClient(base, options.concurrency);
    say(`B3 bare Fastify endpoint: closed loop, ${options.concurrency} connections, ${options.closedSeconds} s`);
    results.b3 = await closedLoop({ client, request: spendRequests('/bare', auth, ids), ...loop });
    line('B3', perRequest(results.b3));

    say(`B1 naive, ${fmt(options.accounts)} accounts: closed loop, ${options.concurrency} connections, ${options.closedSeconds} s`);
    results.b1 = await closedLoop({ client, request: spendRequests('/api/credits/use', auth, ids), ...loop });
    line('B1', perRequest(results.b1));

    const b1Half = Math.max(1, Math.round(results.b1.throughput / 2));
    client.close();
    client = httpClient(base, 256);
    say(`B1 naive: open loop at half its maximum, ${fmt(b1Half)} spends/s, ${options.openSeconds} s`);
    results.b1Open = await openLoop({ client, request: spendRequests('/api/credits/use', auth, ids), rate: b1Half, durationMs: options.openSeconds * 1000, meter });
    line('B1 open loop', perRequest(results.b1Open));
    client.close();
    client = httpClient(base, options.concurrency);

    say(`B2 naive, one hot account: closed loop, ${options.concurrency} connections, ${options.closedSeconds} s`);
    results.b2 = await closedLoop({ client, request: spendRequests('/api/credits/use', auth, [HOT_ACCOUNT]), ...loop });
    line('B2', perRequest(results.b2));
    client.close();
  } finally {
    await stopChild(server);
  }
};

// ---------------------------------------------------------------- the service

/** Polls projection_checkpoints (what a GET with minPosition waits on) as fast as it answers. */
const checkpointPoller = async (url) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const samples = []; // { at, positions: { name: bigint-as-number } }
  let running = true;
  const loop = (async () => {
    while (running) {
      const rows = (await client.query('SELECT name, position::text AS position FROM projection_checkpoints')).rows;
      const positions = {};
      for (const row of rows) positions[row.name] = row.position === null ? -1 : Number(row.position);
      samples.push({ at: performance.now(), positions });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    samples,
    latest: () => samples.at(-1)?.positions ?? {},
    stop: async () => {
      running = false;
      await loop;
      await client.end();
    },
  };
};

/** Whether some session holds the projection group's lease (the advisory lock its runner takes). */
const projectionsLeaseHeld = async (url) => {
  const { projectionLockKey } = require(join(ROOT, 'dist', 'projections', 'projection-runner.js'));
  const { PROJECTIONS } = require(join(ROOT, 'dist', 'projections', 'projections.registry.js'));
  const key = projectionLockKey(PROJECTIONS.map((projection) => projection.name).join(','));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid::bigint = $1 AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [key],
    );
    return rows[0].n > 0;
  } finally {
    await client.end();
  }
};

const headPosition = async (client) => Number((await client.query('SELECT coalesce(max(position), 0)::text AS p FROM ledger_events')).rows[0].p);

/** Waits until every projection's checkpoint has reached the log's head; returns the seconds it took. */
const waitForProjections = async (url, timeoutMs = 120_000) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  try {
    const head = await headPosition(client);
    for (;;) {
      const rows = (await client.query('SELECT min(coalesce(position, -1))::text AS p FROM projection_checkpoints')).rows;
      if (Number(rows[0].p) >= head) return (performance.now() - started) / 1000;
      if (performance.now() - started > timeoutMs) {
        say(`  warning: a projection checkpoint is still behind position ${head} after ${timeoutMs / 1000} s; going on`);
        return null;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
};

/** For each answered spend, the time from its answer until a checkpoint sample shows its position applied. */
const projectionLags = (spends, samples) => {
  const names = Object.keys(samples.at(-1)?.positions ?? {});
  const lagOf = (position, answeredAt, reached) => {
    // samples are in time order and checkpoints only move forward: binary search the first sample past `position`.
    let lo = 0;
    let hi = samples.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (reached(samples[mid].positions) >= position) hi = mid;
      else lo = mid + 1;
    }
    return lo === samples.length ? Number.POSITIVE_INFINITY : Math.max(0, samples[lo].at - answeredAt);
  };
  const result = {};
  for (const name of names) {
    const lags = spends.map(({ position, answeredAt }) => lagOf(position, answeredAt, (p) => p[name] ?? -1));
    result[name] = { ...summarize(lags.filter(Number.isFinite)), neverApplied: lags.filter((lag) => !Number.isFinite(lag)).length };
  }
  const all = spends.map(({ position, answeredAt }) => lagOf(position, answeredAt, (p) => Math.min(...names.map((name) => p[name] ?? -1))));
  result.all = { ...summarize(all.filter(Number.isFinite)), neverApplied: all.filter((lag) => !Number.isFinite(lag)).length };
  const gaps = samples.slice(1).map((sample, i) => sample.at - samples[i].at);
  result.pollIntervalMs = summarize(gaps);
  return result;
};

const runService = async (results) => {
  const url = await createDatabase('service');
  const port = await freePort();
  const dataDir = mkdtempSync(join(os.tmpdir(), 'ledger-bench-'));
  const env = serviceEnv({ databaseUrl: url, port, dataDir });
  if (options.projectionsProcess) env.RUN_PROJECTIONS = 'false';
  const command = serviceCommand(benchServiceNodeArgs());
  results.serviceCommand = ['node', ...command.map((word) => word.replace(`${ROOT}/`, ''))].join(' ');
  say(`starting the service (${results.serviceCommand}, as npm start) on port ${port}, database ${new URL(url).pathname.slice(1)}`);
  // Ready when GET /health answers 200 (the startup line is a log line, hidden at LOG_LEVEL=warn).
  // BENCH_SERVICE_NODE_ARGS (e.g. "--prof") goes to the service's node: a profiling aid, not for measured runs.
  const service = await startChild(command, env, async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 'the service');
  // With --projections-process the read models are kept by `ledger projections run` in a process of its own.
  const projections = options.projectionsProcess
    ? await startChild([join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js'), 'projections', 'run'], env, async () => (await projectionsLeaseHeld(url)), 'the projections process')
    : null;
  const base = `http://127.0.0.1:${port}`;
  const auth = await token('bench', 'service');
  const ids = accountIds(options.accounts);
  const meter = cpuMeter(() => ({ server: service.pid, ...(projections === null ? {} : { projections: projections.pid }) }), `ledger_bench_${runId}`);
  const loop = { concurrency: options.concurrency, warmupMs: options.warmupSeconds * 1000, durationMs: options.closedSeconds * 1000, meter };
  try {
    say(`funding ${fmt(options.accounts)} accounts + the hot account through POST /api/admin/accounts/:id/grants (${options.fundConcurrency} at a time)`);
    const fundStarted = performance.now();
    const toFund = [...ids.map((id) => [id, ACCOUNT_CREDITS]), [HOT_ACCOUNT, HOT_CREDITS]];
    await fundAccounts({ base, grants: toFund, concurrency: options.fundConcurrency });
    results.funding = { grants: toFund.length, seconds: (performance.now() - fundStarted) / 1000 };
    results.funding.grantsPerSecond = results.funding.grants / results.funding.seconds;
    say(`  funded: ${fmt(results.funding.grantsPerSecond)} grants/s; waiting for the projections`);
    await waitForProjections(url);

    let client = httpClient(base, options.concurrency);
    say(`service, ${fmt(options.accounts)} accounts: closed loop, ${options.concurrency} connections, ${options.closedSeconds} s`);
    results.serviceSpread = await closedLoop({ client, request: spendRequests('/api/credits/use', auth, ids), ...loop });
    line('service', perRequest(results.serviceSpread));
    client.close();
    results.serviceSpread.projectionCatchUpSeconds = await waitForProjections(url);
    say(`  projections caught up ${fmt(results.serviceSpread.projectionCatchUpSeconds, 1)} s after the closed loop`);

    const half = Math.max(1, Math.round(results.serviceSpread.throughput / 2));
    say(`service: open loop at half its maximum, ${fmt(half)} spends/s, ${options.openSeconds} s, projection checkpoints polled`);
    client = httpClient(base, 256);
    const poller = await checkpointPoller(url);
    const answered = [];
    results.serviceOpen = await openLoop({
      client,
      request: spendRequests('/api/credits/use', auth, ids),
      rate: half,
      durationMs: options.openSeconds * 1000,
      meter,
      onAnswer: (_i, res, answeredAt) => {
        if (res.status === 200) answered.push({ position: JSON.parse(res.body).position, answeredAt });
      },
    });
    client.close();
    // Let the projections finish what the run appended (bounded), then compute each spend's lag.
    const lastPosition = Math.max(0, ...answered.map((a) => a.position));
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && Math.min(...Object.values(poller.latest())) < lastPosition) await new Promise((resolve) => setTimeout(resolve, 20));
    await poller.stop();
    results.serviceOpen.projectionLagMs = projectionLags(answered, poller.samples);
    line('service open loop', perRequest(results.serviceOpen));
    say(`  projection lag: p50 ${fmt(results.serviceOpen.projectionLagMs.all.p50, 1)} ms, p99 ${fmt(results.serviceOpen.projectionLagMs.all.p99, 1)} ms (slowest projection), balances p99 ${fmt(results.serviceOpen.projectionLagMs.balances?.p99, 1)} ms; checkpoint polls ${fmt(results.serviceOpen.projectionLagMs.pollIntervalMs.p50, 1)} ms apart (p50)`);
    await waitForProjections(url);

    client = httpClient(base, options.concurrency);
    say(`service, one hot account: closed loop, ${options.concurrency} connections, ${options.closedSeconds} s`);
    results.serviceHot = await closedLoop({ client, request: spendRequests('/api/credits/use', auth, [HOT_ACCOUNT]), ...loop });
    line('service, hot account', perRequest(results.serviceHot));
    client.close();
  } finally {
    if (projections !== null) await stopChild(projections);
    await stopChild(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
};

// ---------------------------------------------------------------- event volume: rebuild and long-stream load

const runReplay = async (results) => {
  const url = await createDatabase('replay');
  const longUrl = await createDatabase('long');
  const longAccount = 'long-account';
  const spreadAccounts = Math.max(1, Math.min(options.accounts, Math.floor(options.rebuildEvents / 2)));
  // Both seeds at once (set-up, not measured), into two databases: the rebuild reads exactly its own events.
  say(`seeding ${fmt(options.rebuildEvents)} events over ${fmt(spreadAccounts)} accounts, and one account with ${fmt(options.longEvents)} events in another database, through PostgresEventStore.append (set-up, not measured)`);
  [results.seedSpread, results.seedLong] = await Promise.all([
    replay(['seed-spread', url, options.rebuildEvents, spreadAccounts]),
    replay(['seed-long', longUrl, options.longEvents, longAccount]),
  ]);
  say(`  seeded in ${fmt(results.seedSpread.seconds, 1)} s and ${fmt(results.seedLong.seconds, 1)} s`);
  // Set-up, not measured: a log that has been live a while is vacuumed (autovacuum sees its
  // inserts) and checkpointed. Without this the rebuild runs beside autovacuum and the write-back
  // of the seeding's 2 GB of WAL, and its first read sets every row's hint bits.
  const settleStarted = performance.now();
  for (const seeded of [url, longUrl]) {
    const client = new pg.Client({ connectionString: seeded });
    await client.connect();
    try {
      await client.query('VACUUM (ANALYZE)');
    } finally {
      await client.end();
    }
  }
  await session.withAdmin((admin) => admin.query('CHECKPOINT'));
  results.settleSeconds = (performance.now() - settleStarted) / 1000;
  say(`  settled (VACUUM (ANALYZE) of both databases, CHECKPOINT) in ${fmt(results.settleSeconds, 1)} s`);
  say(`rebuilding the balances projection, then all projections, over ${fmt(options.rebuildEvents)} events (rebuildProjection, batch ${options.rebuildBatchSize})`);
  // With the node flags of `npm run projections:rebuild` (package.json's ledger script).
  results.rebuildNodeFlags = cliNodeFlags();
  results.rebuild = await replay(['rebuild', url, options.rebuildBatchSize], results.rebuildNodeFlags);
  say(`  rebuild: balances ${fmt(results.rebuild.balances.eventsPerSecond)} events/s; all ${results.rebuild.all.projections.length} projections ${fmt(results.rebuild.all.eventsPerSecond)} log events/s`);
  say('its first load ever with AccountRepository.load (seeding bypassed the write path: whatever snapshot the repository keeps, it makes now)');
  results.accountFirstLoad = await replay(['load-first', longUrl, longAccount, results.seedLong.expectedBalanceMillicredits, options.longEvents]);
  say(`  first load: ${fmt(results.accountFirstLoad.coldMs, 1)} ms (${fmt(results.accountFirstLoad.eventsReplayedOnColdLoad)} events replayed), state verified: ${results.accountFirstLoad.verified}`);
  say(`loading it again in a fresh process: 1 cold + up to ${options.warmLoads} warm loads`);
  results.accountLoad = await replay(['load', longUrl, longAccount, options.warmLoads, results.seedLong.expectedBalanceMillicredits, options.longEvents]);
  say(`  load: cold ${fmt(results.accountLoad.coldMs, 1)} ms (${fmt(results.accountLoad.eventsReplayedOnColdLoad)} events replayed), warm median ${fmt(results.accountLoad.warmMedianMs, 1)} ms, state verified: ${results.accountLoad.verified}`);
};

// ---------------------------------------------------------------- report

const ratio = (a, b) => (a === undefined || b === undefined || a === null || b === null || b === 0 ? null : a / b);

const summaryRows = (r) => {
  const rows = [];
  const row = (metric, measured, baseline, ratioValue, target, met) => rows.push({ metric, measured, baseline, ratio: ratioValue, target, met });
  const yes = (ok) => (ok === null || ok === undefined ? '—' : ok ? 'yes' : '**no**');
  const x = (value) => (value === null ? '—' : `${fmt(value, 2)}×`);
  const ms = (value) => (value === null || value === undefined ? '—' : `${fmt(value, 1)} ms`);
  const n = options.accounts;
  const failures = (loop) => (loop.failed > 0 || loop.unanswered > 0 ? ` (${fmt(loop.failed + (loop.unanswered ?? 0))} failed)` : '');
  if (r.serviceSpread && r.b1) {
    const q = ratio(r.serviceSpread.throughput, r.b1.throughput);
    row(`Spend throughput, ${fmt(n)} accounts (closed loop, ${options.concurrency} conn.)`, `${fmt(r.serviceSpread.throughput)} /s${failures(r.serviceSpread)}`, `B1 ${fmt(r.b1.throughput)} /s${failures(r.b1)}`, x(q), '≥ 1.0× B1', yes(q >= 1));
  }
  if (r.serviceHot && r.b2) {
    const q = ratio(r.serviceHot.throughput, r.b2.throughput);
    row('Spend throughput, one hot account', `${fmt(r.serviceHot.throughput)} /s${failures(r.serviceHot)}`, `B2 ${fmt(r.b2.throughput)} /s${failures(r.b2)}`, x(q), '≥ 5× B2', yes(q >= 5));
  }
  if (r.serviceOpen && r.b1Open) {
    const at = `offered ${fmt(r.serviceOpen.offeredRate)}/s, achieved ${fmt(r.serviceOpen.achievedRate)}/s`;
    const baseAt = `(B1 at ${fmt(r.b1Open.offeredRate)}/s)`;
    row(`p50 latency at half the maximum rate (${at}${failures(r.serviceOpen)})`, ms(r.serviceOpen.latencyMs.p50), `B1 ${ms(r.b1Open.latencyMs.p50)} ${baseAt}`, x(ratio(r.serviceOpen.latencyMs.p50, r.b1Open.latencyMs.p50)), '—', '—');
    row(`p99 latency at half the maximum rate`, ms(r.serviceOpen.latencyMs.p99), `B1 ${ms(r.b1Open.latencyMs.p99)} ${baseAt}`, x(ratio(r.serviceOpen.latencyMs.p99, r.b1Open.latencyMs.p99)), '≤ 25 ms', yes(r.serviceOpen.latencyMs.p99 <= 25 && r.serviceOpen.failed === 0 && r.serviceOpen.unanswered === 0));
    const lag = r.serviceOpen.projectionLagMs;
    const lagOk = lag.all.p99 !== null && lag.all.p99 <= 100 && lag.all.neverApplied === 0;
    row(`Projection lag p99 at that rate, slowest projection (balances alone: ${ms(lag.balances?.p99)})`, ms(lag.all.p99), 'B1: 0 (synchronous)', '—', '≤ 100 ms', yes(lagOk));
  }
  if (r.rebuild) {
    const ev = fmt(r.rebuild.balances.events);
    row(`Rebuild, balances projection (${ev} events)`, `${fmt(r.rebuild.balances.eventsPerSecond)} events/s`, '—', '—', '≥ 100,000 events/s', yes(r.rebuild.balances.eventsPerSecond >= 100_000));
    row(`Rebuild, all ${r.rebuild.all.projections.length} projections from one read of the log (${ev} events)`, `${fmt(r.rebuild.all.eventsPerSecond)} events/s`, '—', '—', '≥ 100,000 events/s', yes(r.rebuild.all.eventsPerSecond >= 100_000));
  }
  if (r.accountLoad) {
    const ev = fmt(r.accountLoad.events);
    const verified = r.accountLoad.verified ? '' : ' (state NOT verified)';
    row(`Load an account of ${ev} events, cold (first load in a fresh process)${verified}`, ms(r.accountLoad.coldMs), '—', '—', '≤ 50 ms', yes(r.accountLoad.coldMs <= 50 && r.accountLoad.verified));
    row(`Load an account of ${ev} events, warm (median of ${r.accountLoad.warmMs.length} more in that process)`, ms(r.accountLoad.warmMedianMs), '—', '—', '≤ 50 ms', yes(r.accountLoad.warmMedianMs !== null && r.accountLoad.warmMedianMs <= 50 && r.accountLoad.verified));
  }
  if (r.accountFirstLoad) {
    const replayed = r.accountFirstLoad.eventsReplayedOnColdLoad;
    row(`(info) The very first load of that account, right after seeding${replayed === null ? '' : `: ${fmt(replayed)} events replayed`}`, ms(r.accountFirstLoad.coldMs), '—', '—', '—', '—');
  }
  if (r.b3) {
    const q = r.serviceSpread ? ratio(r.serviceSpread.throughput, r.b3.throughput) : null;
    row('HTTP ceiling: B3 bare Fastify endpoint (service spends as a share of it)', r.serviceSpread ? `${fmt(r.serviceSpread.throughput)} /s` : '—', `B3 ${fmt(r.b3.throughput)} /s`, x(q), '—', '—');
  }
  return rows;
};

const markdownTable = (result) => {
  const rows = summaryRows(result.figures);
  const head = '| metric | measured | baseline | ratio | target | met? |\n|---|---|---|---|---|---|';
  const body = rows.map((r) => `| ${r.metric} | ${r.measured} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.met} |`).join('\n');
  const phases = [
    ['B3 bare endpoint, closed loop', result.figures.b3],
    ['B1 naive, closed loop', result.figures.b1],
    ['B1 naive, open loop at half', result.figures.b1Open],
    ['B2 naive hot account, closed loop', result.figures.b2],
    ['service, closed loop', result.figures.serviceSpread],
    ['service, open loop at half', result.figures.serviceOpen],
    ['service hot account, closed loop', result.figures.serviceHot],
  ].filter(([, r]) => r?.cpu !== undefined);
  const cpuTable = phases.length === 0 ? [] : [
    '',
    'Where the CPU went in each HTTP phase (from /proc; % of one core of the 2; "others" is everything else on the machine, e.g. other people\'s test runs):',
    '',
    '| phase | requests/s | p99 | server CPU | server ms/request | Postgres (our DBs) CPU | Postgres ms/request | bench process | others |',
    '|---|---|---|---|---|---|---|---|---|',
    ...phases.map(([name, r]) => `| ${name} | ${fmt(r.throughput ?? r.achievedRate)} | ${fmt(r.latencyMs.p99, 1)} ms | ${fmt(r.cpu.serverPercent)}% | ${fmt(r.cpu.serverMsPerRequest, 2)} | ${fmt(r.cpu.postgresPercent)}% | ${fmt(r.cpu.postgresMsPerRequest, 2)} | ${fmt(r.cpu.loadGeneratorPercent)}% | ${fmt(r.cpu.otherPercent)}% |`),
  ];
  const others = phases.map(([, r]) => r.cpu.otherPercent).filter((v) => v !== null && v !== undefined);
  const othersText = others.length === 0 ? '' : ` Other work on the machine during the HTTP phases: ${fmt(others.reduce((a, b) => a + b, 0) / others.length)}% of a core on average (${fmt(Math.max(...others))}% at most).`;
  const pgInfo = result.postgres;
  const version = pgInfo.version.split(' ').slice(0, 2).join(' ');
  const s = pgInfo.settings;
  return [
    `Last run: ${result.date} (\`${result.command}\`, ${result.options.mode} mode), ${result.machine.cores} × ${result.machine.cpuModel}, Node ${result.machine.node}, ${version} (synchronous_commit=${s.synchronous_commit}, fsync=${s.fsync}, shared_buffers=${s.shared_buffers}), service at ${result.git.commit?.slice(0, 7) ?? '?'}${result.git.srcUncommittedFiles ? ` + ${result.git.srcUncommittedFiles} uncommitted files in src/` : ''}. Raw figures: \`bench/results/${result.file}\`.${othersText}`,
    '',
    head,
    body,
    ...cpuTable,
  ].join('\n');
};

const START = '<!-- bench:results:start (generated by npm run bench; edits inside are overwritten) -->';
const END = '<!-- bench:results:end -->';

const updateReadme = (table) => {
  const path = join(ROOT, 'bench', 'README.md');
  const readme = readFileSync(path, 'utf8');
  const startAt = readme.indexOf(START);
  const endAt = readme.indexOf(END);
  const block = `${START}\n${table}\n${END}`;
  const next = startAt >= 0 && endAt > startAt ? readme.slice(0, startAt) + block + readme.slice(endAt + END.length) : `${readme.trimEnd()}\n\n## Side by side (\`npm run bench\`)\n\n${block}\n`;
  writeFileSync(path, next);
};

// ---------------------------------------------------------------- main

const main = async () => {
  const result = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    options,
    machine: machineInfo(),
    postgres: await postgresInfo(),
    git: gitInfo(),
    method: {
      loadGenerator: 'keep-alive HTTP/1.1 client on bare net sockets in the bench process (bench/lib/load.mjs httpClient; node:http agents before 2026-12-06); closed loop: N connections each with one request in flight; open loop: request i sent at start + i/rate, latency = answer time − scheduled time',
      baselines: `bare Fastify ${JSON.parse(readFileSync(join(ROOT, 'node_modules', 'fastify', 'package.json'), 'utf8')).version} server in its own process (bench/lib/naive-server.mjs), pg pool of ${POOL_SIZE} like the service, same request and JWT check`,
      projectionLag: 'per spend: time from its HTTP answer until a poll of projection_checkpoints (what GET …?minPosition= waits on) shows its position applied; polled back to back (~2 ms apart) from the bench on its own connection; answered after the answer arrived counts as 0',
    },
    figures: {},
  };
  say(`npm run bench (${options.mode}): ${fmt(options.accounts)} accounts, ${options.concurrency} connections, closed loops ${options.warmupSeconds}+${options.closedSeconds} s, open loops ${options.openSeconds} s, rebuild over ${fmt(options.rebuildEvents)} events, account of ${fmt(options.longEvents)} events`);
  say(`Postgres: ${result.postgres.version.split(',')[0]}, synchronous_commit=${result.postgres.settings.synchronous_commit}; ${result.machine.cores} × ${result.machine.cpuModel}, load average ${result.machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`);
  if (result.postgres.settings.synchronous_commit !== 'on') throw new Error('synchronous_commit is not on: durability must stay on for this benchmark');
  try {
    if (options.only === 'all' || options.only === 'http') {
      await runBaselines(result.figures);
      await runService(result.figures);
    }
    if (options.only === 'all' || options.only === 'replay') await runReplay(result.figures);
  } finally {
    await cleanUp();
  }
  result.finishedAt = new Date().toISOString();
  result.machine.loadAverageAtEnd = os.loadavg();
  result.summary = summaryRows(result.figures);
  const name = `${result.date.slice(0, 10)}${options.mode === 'quick' ? '-quick' : ''}${options.only === 'all' ? '' : `-${options.only}`}${options.projectionsProcess ? '-projections-process' : ''}`;
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  // A second run on the same day gets -2, -3, …: no measurement overwrites another.
  result.file = `${name}.json`;
  for (let n = 2; existsSync(join(ROOT, 'bench', 'results', result.file)); n += 1) result.file = `${name}-${n}.json`;
  writeFileSync(join(ROOT, 'bench', 'results', result.file), `${JSON.stringify(result, null, 2)}\n`);
  const table = markdownTable(result);
  // A quick or partial run prints its table but leaves the README's (the last full run's) alone, unless --readme.
  const writeReadme = flags.readme ?? (!quick && options.only === 'all' && !options.projectionsProcess);
  if (writeReadme) updateReadme(table);
  process.stdout.write(`\n${table}\n\nwritten: bench/results/${result.file}${writeReadme ? ', bench/README.md' : ''} (${clock()})\n`);
};

main().catch(async (error) => {
  say(`failed: ${error?.stack ?? error}`);
  await cleanUp();
  process.exit(1);
});
