// Spend latency with and without 500 idle live-balance streams open (credit-lifecycle issue).
// Usage: npm run bench:sse   (BENCH_DATABASE_URL=postgres://… to use a server; default: embedded PGlite)
// Starts the built service as a child process, measures N sequential spends over HTTP, then opens
// IDLE_STREAMS SSE connections for other accounts and measures the same spends again.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'bench-secret-bench-secret-bench-secret-0000';
const PORT = Number(process.env.BENCH_PORT ?? 3917);
const SPENDS = Number(process.env.BENCH_SPENDS ?? 300);
const IDLE_STREAMS = Number(process.env.IDLE_STREAMS ?? 500);
const base = `http://127.0.0.1:${PORT}`;

const token = (sub, role = 'user') =>
  new SignJWT({ role }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

const call = async (method, path, auth, body) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  await response.arrayBuffer();
  return response.status;
};

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const measure = async (spender) => {
  const latencies = [];
  for (let i = 0; i < SPENDS; i += 1) {
    const started = performance.now();
    const status = await call('POST', '/api/credits/use', spender, { service: 'sms', quantity: 1 });
    if (status !== 200) throw new Error(`spend answered ${status}`);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length };
};

const openIdleStream = (auth) =>
  new Promise((resolve, reject) => {
    const req = request(`${base}/api/credits/balance/stream`, { headers: { authorization: `Bearer ${auth}` } }, (res) => {
      res.on('data', () => undefined);
      resolve(req);
    });
    req.on('error', reject);
    req.end();
  });

const waitForHealth = async () => {
  for (let i = 0; i < 300; i += 1) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('service did not start');
};

const main = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
  const env = { ...process.env, PORT: String(PORT), HOST: '127.0.0.1', AUTH_JWT_SECRET: SECRET, LEDGER_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  if (process.env.BENCH_DATABASE_URL) env.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  const service = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitForHealth();
    const admin = await token('bench-admin', 'admin');
    // Each run spends on a fresh account: a command's cost grows with its account's history
    // (no snapshots yet), so two runs on one account would not be comparable.
    const freshSpender = async (name) => {
      if ((await call('POST', `/api/admin/accounts/${name}/grants`, admin, { credits: '1000000', reason: 'bench' })) !== 201) throw new Error('grant failed');
      return token(name);
    };
    await measure(await freshSpender('bench-warmup'));
    const without = await measure(await freshSpender('bench-without'));
    const spender = await freshSpender('bench-with');
    const streams = [];
    for (let i = 0; i < IDLE_STREAMS; i += 1) streams.push(await openIdleStream(await token(`idle-${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const withStreams = await measure(spender);
    for (const stream of streams) stream.destroy();
    const result = {
      date: new Date().toISOString(),
      store: process.env.BENCH_DATABASE_URL ? 'postgres' : 'pglite',
      spends: SPENDS,
      idleStreams: IDLE_STREAMS,
      withoutStreamsMs: without,
      withIdleStreamsMs: withStreams,
      p99Ratio: withStreams.p99 / without.p99,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `sse-idle-${result.date.slice(0, 10)}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    service.kill('SIGTERM');
    await new Promise((resolve) => service.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
};

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
