// What every benchmark of the service needs around it: the shared secret and tokens, free
// ports, child processes started until ready and stopped, and scratch databases that are
// dropped at the end, also on failure and Ctrl-C.
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SignJWT } from 'jose';
import { httpClient } from './load.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SECRET = 'bench-secret-bench-secret-bench-secret-0000';

/**
 * The node flags package.json's script `name` runs `entry` with: the words between its last
 * `node` and `entry`, which must end the script.
 */
const scriptNodeFlags = (name, entry) => {
  const script = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts[name];
  const words = script.trim().split(/\s+/);
  const node = words.lastIndexOf('node');
  if (node < 0 || words.at(-1) !== entry) throw new Error(`package.json's ${name} script does not end in "node [flags] ${entry}": ${script}`);
  return words.slice(node + 1, -1);
};

/**
 * The node command line of the service as `npm start` runs it (package.json's start script,
 * flags included), with `extra` flags (profiling aids) before the script: the benchmarks
 * measure the service as it is started, never a bare `node dist/main.js`.
 */
export const serviceCommand = (extra = []) => [...scriptNodeFlags('start', 'dist/main.js'), ...extra, join(ROOT, 'dist', 'main.js')];

/**
 * The node flags of the command-line tool as `npm run ledger` (and so `npm run
 * projections:rebuild`) runs it: a rebuild is measured with them, as an operator runs it.
 */
export const cliNodeFlags = () => scriptNodeFlags('ledger', 'dist/infrastructure/cli/ledger-cli.js');

/** BENCH_SERVICE_NODE_ARGS, split: more flags for the service's node (a profiling aid, e.g. "--cpu-prof"). */
export const benchServiceNodeArgs = () => (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);

export const token = (sub, role) =>
  new SignJWT({ role }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('4h').sign(new TextEncoder().encode(SECRET));

export const HOT_ACCOUNT = 'hot-account';
export const HOT_CREDITS = 100_000_000;
const SPEND = { service: 'sms', quantity: 1 }; // 1 credit = 1000 millicredits per spend

/**
 * Spends for a uniformly random account of `ids` (or always the same one). With `keyed`,
 * each carries an Idempotency-Key of its own, so the service keeps its record for the
 * idempotency window (without one, a spend's record is dropped once it is answered).
 */
export const spendRequests = (path, auth, ids, { keyed = false } = {}) => {
  const headers = { authorization: `Bearer ${auth}` };
  const body = () => ({ ...SPEND, accountId: ids[Math.floor(Math.random() * ids.length)] });
  if (keyed) return () => ({ method: 'POST', path, headers: { ...headers, 'idempotency-key': randomUUID() }, body: body() });
  return () => ({ method: 'POST', path, headers, body: body() });
};

/**
 * The service's environment in a benchmark: its scratch database and port, the bench's JWT
 * secret, quiet logs, no rate limit; NODE_ENV and any EventStoreDB of the caller removed.
 */
export const serviceEnv = ({ databaseUrl, port, dataDir }) => {
  const env = { ...process.env, DATABASE_URL: databaseUrl, AUTH_JWT_SECRET: SECRET, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
  if (dataDir !== undefined) env.LEDGER_DATA_DIR = dataDir;
  delete env.NODE_ENV;
  delete env.EVENTSTORE_CONNECTION_STRING;
  return env;
};

/** Grants each [accountId, credits] through POST /api/admin/accounts/:id/grants, `concurrency` at a time; any answer but 201 throws. */
export const fundAccounts = async ({ base, grants, concurrency, reason = 'bench' }) => {
  const client = httpClient(base, concurrency);
  const headers = { authorization: `Bearer ${await token('bench-admin', 'admin')}` };
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < grants.length) {
          const [id, credits] = grants[next++];
          const res = await client.send({ method: 'POST', path: `/api/admin/accounts/${id}/grants`, headers, body: { credits: String(credits), reason } });
          if (res.status !== 201) throw new Error(`grant for ${id} answered ${res.status}: ${res.body.slice(0, 200)}`);
        }
      }),
    );
  } finally {
    client.close();
  }
};

export const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

export const stopChild = async (child) => {
  if (child === null || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
};

/**
 * One benchmark's scratch resources on the Postgres server at `serverUrl`: databases named
 * `<prefix>_<suffix>` and node children, all of them removed by cleanUp() (called on
 * SIGINT/SIGTERM too). `say` reports what could not be dropped.
 */
export const scratchSession = ({ serverUrl, prefix, say }) => {
  const createdDatabases = new Set();
  const children = new Set();
  const dbUrl = (name) => {
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const withAdmin = async (work) => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.end().catch(() => undefined);
    }
  };

  const createDatabase = async (suffix) => {
    const name = `${prefix}_${suffix}`;
    createdDatabases.add(name);
    await withAdmin((admin) => admin.query(`CREATE DATABASE ${name}`));
    return { name, url: dbUrl(name) };
  };
  const dropDatabase = async (name) => {
    await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    createdDatabases.delete(name);
  };

  /**
   * Spawns a node child and resolves once `ready()` (polled) says so. Its stdout is kept as the
   * last lines only (shown if it fails to start); stderr goes to ours.
   */
  const startChild = (args, env, ready, name) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      children.add(child);
      const tail = [];
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        tail.push(chunk);
        if (tail.length > 50) tail.shift();
      });
      let started = false;
      let exited = false;
      child.once('exit', (code) => {
        exited = true;
        children.delete(child);
        if (!started) reject(new Error(`${name} exited with ${code} before it was ready; its last output:\n${tail.join('').slice(-4000)}`));
      });
      void (async () => {
        const deadline = performance.now() + 120_000;
        while (!exited) {
          if (await ready().catch(() => false)) {
            started = true;
            return resolve(child);
          }
          if (performance.now() > deadline) {
            child.kill('SIGKILL');
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    });

  /** Registers a child started elsewhere, so that cleanUp() kills it too. */
  const track = (child) => {
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };

  let cleaning;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      if (createdDatabases.size === 0) return;
      await withAdmin(async (admin) => {
        for (const name of createdDatabases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((error) => say(`could not drop ${name}: ${error.message}`));
      });
    })());
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      say(`${signal}: stopping, dropping the scratch databases`);
      void cleanUp().finally(() => process.exit(130));
    });
  }

  return { dbUrl, withAdmin, createDatabase, dropDatabase, startChild, track, cleanUp };
};

/** Per account in the spread phases: far more than any run spends. */
export const ACCOUNT_CREDITS = 1_000_000;
export const accountIds = (count) => Array.from({ length: count }, (_, i) => `acct-${String(i).padStart(5, '0')}`);

/** Whether something answers at `url` without a server error. */
export const answers = async (url) => {
  const res = await fetch(url, { method: 'GET' });
  await res.arrayBuffer();
  return res.status < 500;
};

/**
 * The naive design's database (B1/B2): one balance row per account (`accounts` of them, plus
 * the hot one) and a history table; then its server (bench/lib/naive-server.mjs) on a free port.
 * Resolves to { base, server }; stop the server with stopChild.
 */
export const startNaive = async (session, { suffix, accounts, poolSize }) => {
  const { name, url } = await session.createDatabase(suffix);
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  try {
    await setup.query(`
      CREATE TABLE balances (account_id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
      CREATE TABLE spend_history (
        id bigserial PRIMARY KEY, usage_id uuid NOT NULL, account_id text NOT NULL, service text NOT NULL,
        quantity bigint NOT NULL, charged bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE INDEX spend_history_account ON spend_history (account_id, id);`);
    await setup.query('INSERT INTO balances (account_id, balance) SELECT unnest($1::text[]), $2', [accountIds(accounts), ACCOUNT_CREDITS * 1000]);
    await setup.query('INSERT INTO balances (account_id, balance) VALUES ($1, $2)', [HOT_ACCOUNT, HOT_CREDITS * 1000]);
    await setup.query('VACUUM ANALYZE balances');
  } finally {
    await setup.end();
  }
  const port = await freePort();
  const env = { ...process.env, NAIVE_DATABASE_URL: url, NAIVE_PORT: String(port), NAIVE_POOL_SIZE: String(poolSize), AUTH_JWT_SECRET: SECRET, CATALOG_FILE: join(ROOT, 'config', 'rate-cards.json') };
  const server = await session.startChild([join(ROOT, 'bench', 'lib', 'naive-server.mjs')], env, () => answers(`http://127.0.0.1:${port}/`), 'the naive server');
  return { base: `http://127.0.0.1:${port}`, server, databaseName: name };
};
