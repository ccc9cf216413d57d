// `npm run bench:timeline`: where a latency spike comes from. An open loop against the service
// (as `npm run bench`'s half-rate phase), cut into 250 ms windows: each window's spends (count,
// p99, max latency from their scheduled time) beside the CPU each thread of the service and each
// Postgres process took in it, read from /proc (Linux).
//
// Usage: npm run bench:timeline [-- --rate N --accounts N --duration S --all --trace-gc]
//   --rate        spends per second offered (default 2000); --accounts: spread over (default 10,000)
//   --duration    seconds of open loop (default 20), after a closed-loop warm-up
//   --warmup      seconds of that warm-up (default 5; 20 holds the records `npm run bench`'s
//                 closed loop leaves in the service before its half-rate phase)
//   --keyed       every spend with an Idempotency-Key of its own, so the service keeps its
//                 record for the idempotency window (npm run bench's spends carry none)
//   --all         print every window (default: only windows whose slowest spend took > 25 ms)
//   --trace-gc    run the service with --trace-gc and print its major GCs on the same clock
//   --gc-log FILE write the service's stdout (its GC trace) to FILE from its start; with
//                 BENCH_SERVICE_NODE_ARGS=--trace-gc-nvp it also prints, per isolate, what its
//                 scavenges allocated and promoted during the open loop (what fills the old
//                 generation, and so how often a Mark-Compact comes)
//   BENCH_SERVICE_NODE_ARGS  more flags for the service's node (e.g. "--v8-pool-size=1")
//   BENCH_DATABASE_URL       the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres)
//
// CPU columns are clock ticks (1/100 s) in the window: 25 is one core busy for the whole window.
// Service threads are named by /proc comm: "main" is the event loop; "node" threads are V8's
// platform workers (GC helpers) and the projections worker (the one busy in every window).
// After the windows it sets where a spend's time went beside what the client saw: the server's own
// `http_request_duration_seconds` of the spends and `ledger_event_store_append_duration_seconds`
// of the appends (from /metrics, before and after the open loop), how late the generator sent,
// and how many threads were runnable at once (/proc/stat procs_running, sampled every 10 ms):
// more than the 2 cores means something waited for one.
// A diagnostic: nothing is written to bench/results.
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { closedLoop, commOf, httpClient, machineTicks, openLoop, readProc, summarize, ticksOf } from './lib/load.mjs';
import { ACCOUNT_CREDITS, HOT_ACCOUNT, HOT_CREDITS, accountIds, benchServiceNodeArgs, freePort, fundAccounts, scratchSession, serviceCommand, serviceEnv, spendRequests, stopChild, token } from './lib/harness.mjs';

const { values: flags } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    accounts: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    all: { type: 'boolean', default: false },
    keyed: { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
    'gc-log': { type: 'string' },
  },
});
const rate = Number(flags.rate);
const accounts = Number(flags.accounts);
const durationMs = Number(flags.duration) * 1000;
const warmupMs = Number(flags.warmup) * 1000;
const WINDOW_MS = 250;
const SLOW_MS = 25;
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const say = (line) => process.stderr.write(`${line}\n`);
const session = scratchSession({ serverUrl, prefix: `ledger_timeline_${randomBytes(4).toString('hex')}`, say });

/** Ticks so far per thread of the service and per Postgres process (by its title), and the machine's. */
const sample = (servicePid, ourDatabase) => {
  const threads = {};
  for (const tid of readdirSync(`/proc/${servicePid}/task`)) {
    const stat = readProc(`/proc/${servicePid}/task/${tid}/stat`);
    if (stat !== null) threads[tid] = { name: String(servicePid) === tid ? 'main' : `${commOf(stat)}/${tid}`, ticks: ticksOf(stat) };
  }
  const postgres = {};
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = readProc(`/proc/${pid}/stat`);
    if (stat === null || commOf(stat) !== 'postgres') continue;
    const title = (readProc(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ').trim();
    // "postgres: 15/main: walwriter", "postgres: 15/main: postgres <db> 127.0.0.1(port) idle", or the postmaster's command line.
    const client = /\(\d+\)/.test(title);
    const name = client ? (title.includes(ourDatabase) ? 'backends' : 'other databases\' backends') : title.startsWith('postgres: ') ? title.replace(/^postgres: (\S+ )?/, '').replace(/\s.*$/, '') : 'postmaster';
    postgres[pid] = { name, ticks: ticksOf(stat) };
  }
  const { total, idle } = machineTicks();
  return { at: performance.now(), threads, postgres, busy: total - idle, total };
};

/** Cumulative bucket counts (le in seconds → count) of one /metrics histogram, summed over the series `keep` accepts. */
const histogramOf = (text, name, keep) => {
  const buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (!keep(labels)) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (le === undefined) continue;
    buckets.set(le, (buckets.get(le) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
};

const serverHistograms = async (base) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  return {
    spends: histogramOf(text, 'http_request_duration_seconds', (labels) => labels.includes('route="/api/credits/use"') && labels.includes('status_code="200"')),
    appends: histogramOf(text, 'ledger_event_store_append_duration_seconds', (labels) => labels.includes('outcome="ok"')),
  };
};

const SHARE_BOUNDS_MS = [5, 10, 25, 50, 100];

/** "n; ≤ 5 ms a%, ≤ 10 ms b%, …" of `total` latencies, `within(ms)` of which took at most ms. */
const shareLine = (total, within) =>
  total === 0 ? 'none' : `${total.toLocaleString('en-US')}; ${SHARE_BOUNDS_MS.map((ms) => `≤ ${ms} ms ${((100 * within(ms)) / total).toFixed(1)}%`).join(', ')}`;

/** The shares of what a cumulative /metrics histogram counted between two readings. */
const shares = (before, after) => {
  const count = (buckets, le) => buckets.get(le) ?? 0;
  const between = (le) => count(after, le) - count(before, le);
  return shareLine(between('+Inf'), (ms) => between(String(ms / 1000)));
};

/** The same shares of a list of latencies in ms. */
const sharesOf = (latencies) => shareLine(latencies.length, (ms) => latencies.filter((latency) => latency <= ms).length);

/** Threads runnable on the machine now, this one (reading) left out. */
const runnable = () => Number(/^procs_running (\d+)$/m.exec(readProc('/proc/stat') ?? '')?.[1] ?? 1) - 1;

/** Ticks spent in the window by each name (threads and Postgres processes of one title summed). */
const spent = (from, to) => {
  const by = {};
  const add = (name, ticks) => {
    if (ticks > 0) by[name] = (by[name] ?? 0) + ticks;
  };
  for (const [tid, thread] of Object.entries(to.threads)) add(`service ${thread.name}`, thread.ticks - (from.threads[tid]?.ticks ?? thread.ticks));
  for (const [pid, process] of Object.entries(to.postgres)) add(`postgres ${process.name}`, process.ticks - (from.postgres[pid]?.ticks ?? process.ticks));
  return by;
};

const main = async () => {
  const { name: database, url } = await session.createDatabase('service');
  const port = await freePort();
  const dataDir = mkdtempSync(join(os.tmpdir(), 'ledger-timeline-'));
  const env = serviceEnv({ databaseUrl: url, port, dataDir });
  const nodeArgs = [...(flags['trace-gc'] ? ['--trace-gc'] : []), ...benchServiceNodeArgs()];
  const service = await session.startChild(serviceCommand(nodeArgs), env, async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 'the service');
  const gcLog = flags['gc-log'];
  /** Major GCs (`--trace-gc`) from the open loop's start on, at their time from t0; `--trace-gc-nvp` scavenges by isolate during it. */
  const gcs = [];
  const scavenges = new Map();
  let t0 = null;
  let inOpenLoop = false;
  service.stdout.on('data', (chunk) => {
    if (gcLog !== undefined) appendFileSync(gcLog, chunk);
    if (t0 === null) return;
    const at = performance.now() - t0;
    for (const line of String(chunk).split('\n')) {
      if (/Mark-Compact/.test(line)) gcs.push({ at, line: line.trim() });
      const isolate = /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1];
      if (!inOpenLoop || isolate === undefined || !/ gc=(s|mc) /.test(line)) continue;
      const sum = scavenges.get(isolate) ?? { count: 0, allocated: 0, promoted: 0, pauseMs: 0, markCompacts: 0 };
      scavenges.set(isolate, sum);
      if (/ gc=mc /.test(line)) {
        sum.markCompacts += 1;
        continue;
      }
      const field = (name) => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
      sum.count += 1;
      sum.allocated += field('allocated');
      sum.promoted += field('promoted');
      sum.pauseMs += field('pause');
    }
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    const auth = await token('bench', 'service');
    const ids = accountIds(accounts);
    say(`funding ${accounts.toLocaleString('en-US')} accounts`);
    await fundAccounts({ base, grants: [...ids.map((id) => [id, ACCOUNT_CREDITS]), [HOT_ACCOUNT, HOT_CREDITS]], concurrency: 32, reason: 'timeline' });
    say(`warm-up: closed loop, 64 connections, ${flags.warmup} s`);
    const warm = httpClient(base, 64);
    await closedLoop({ client: warm, request: spendRequests('/api/credits/use', auth, ids, { keyed: flags.keyed }), concurrency: 64, warmupMs: Math.min(2000, warmupMs / 2), durationMs: warmupMs - Math.min(2000, warmupMs / 2) });
    warm.close();
    await new Promise((resolve) => setTimeout(resolve, 2000));

    say(`open loop: ${rate.toLocaleString('en-US')} spends/s for ${durationMs / 1000} s`);
    const client = httpClient(base, 256);
    const metricsBefore = await serverHistograms(base);
    const running = [];
    const runQueue = setInterval(() => running.push(runnable()), 10);
    t0 = performance.now();
    inOpenLoop = true;
    const samples = [sample(service.pid, database)];
    const timer = setInterval(() => samples.push(sample(service.pid, database)), WINDOW_MS);
    const answers = [];
    const result = await openLoop({
      client,
      request: spendRequests('/api/credits/use', auth, ids, { keyed: flags.keyed }),
      rate,
      durationMs,
      // Latency from the scheduled send time, as the bench measures it.
      onAnswer: (_i, res, answeredAt, scheduledAt) => answers.push({ at: answeredAt, latency: answeredAt - scheduledAt, ok: res.status === 200 }),
    });
    clearInterval(timer);
    clearInterval(runQueue);
    inOpenLoop = false;
    client.close();
    const metricsAfter = await serverHistograms(base);

    const overall = result.latencyMs;
    process.stdout.write(`offered ${rate}/s, achieved ${result.achievedRate}/s, failed ${result.failed}: p50 ${overall.p50.toFixed(1)} ms, p99 ${overall.p99.toFixed(1)} ms, max ${overall.max.toFixed(1)} ms\n`);
    process.stdout.write(`window (s from start) | spends | p99 ms | max ms | machine busy | CPU ticks by thread/process (25 = one core)\n`);
    let slowWindows = 0;
    for (let k = 1; k < samples.length; k += 1) {
      const from = samples[k - 1];
      const to = samples[k];
      const inWindow = answers.filter((answer) => answer.ok && answer.at >= from.at && answer.at < to.at).map((answer) => answer.latency);
      const { p99, max } = summarize(inWindow);
      const slow = max > SLOW_MS;
      if (slow) slowWindows += 1;
      if (!slow && !flags.all) continue;
      const busy = to.total === from.total ? 0 : (100 * (to.busy - from.busy)) / (to.total - from.total);
      const by = Object.entries(spent(from, to))
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([name, ticks]) => `${name} ${ticks}`)
        .join(', ');
      const gcHere = gcs.filter((gc) => gc.at >= from.at - t0 && gc.at < to.at - t0).length;
      process.stdout.write(
        `${((from.at - t0) / 1000).toFixed(2).padStart(6)} | ${String(inWindow.length).padStart(5)} | ${(p99 ?? 0).toFixed(0).padStart(5)} | ${(max ?? 0).toFixed(0).padStart(5)} | ${busy.toFixed(0).padStart(3)}% | ${by}${gcHere > 0 ? ` | Mark-Compact ×${gcHere}` : ''}\n`,
      );
    }
    process.stdout.write(`${slowWindows} of ${samples.length - 1} windows had a spend over ${SLOW_MS} ms\n`);
    process.stdout.write(`spends as the client saw them (from their scheduled time): ${sharesOf(answers.filter((answer) => answer.ok).map((answer) => answer.latency))}\n`);
    process.stdout.write(`spends as the server timed them (http_request_duration_seconds): ${shares(metricsBefore.spends, metricsAfter.spends)}\n`);
    process.stdout.write(`append batches (ledger_event_store_append_duration_seconds): ${shares(metricsBefore.appends, metricsAfter.appends)}\n`);
    const delay = result.sendDelayMs;
    process.stdout.write(`the generator sent late by p50 ${delay.p50.toFixed(1)} ms, p99 ${delay.p99.toFixed(1)} ms, max ${delay.max.toFixed(1)} ms\n`);
    const cores = os.cpus().length;
    const mean = running.reduce((sum, value) => sum + value, 0) / Math.max(1, running.length);
    process.stdout.write(
      `runnable threads (${running.length} samples every 10 ms): mean ${mean.toFixed(2)} on ${cores} cores; more than ${cores} in ${((100 * running.filter((value) => value > cores).length) / Math.max(1, running.length)).toFixed(1)}% of samples\n`,
    );
    for (const gc of gcs) process.stdout.write(`${(gc.at / 1000).toFixed(2)} s: ${gc.line.slice(0, 180)}\n`);
    const spends = answers.filter((answer) => answer.ok).length;
    for (const [isolate, sum] of scavenges) {
      if (sum.count === 0 && sum.markCompacts === 0) continue;
      const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
      process.stdout.write(
        `isolate ${isolate}, open loop: ${sum.count} scavenges (${sum.pauseMs.toFixed(0)} ms in all) allocated ${mb(sum.allocated)} MB and promoted ${mb(sum.promoted)} MB, ` +
          `${Math.round(sum.promoted / Math.max(1, spends))} bytes per spend; ${sum.markCompacts} Mark-Compacts\n`,
      );
    }
  } finally {
    await stopChild(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
};

main()
  .catch((error) => {
    say(`failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(() => session.cleanUp());
