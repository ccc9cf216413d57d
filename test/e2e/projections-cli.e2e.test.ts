import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { createPostgresDatabase, type TestDatabase } from '../support/databases';
import { startLedger, TEST_JWT_SECRET, tokenFor } from '../support/ledger-app';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js');
const serverUrl = process.env['TEST_DATABASE_URL'];
// Two processes on one database: the service and the CLI. PGlite belongs to one process only.
const describeOnServer = serverUrl ? describe : describe.skip;

const waitForOutput = async (output: () => string, text: string, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!output().includes(text)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
};

describeOnServer('npm run projections / projections:rebuild as real processes (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe' });
    database = await createPostgresDatabase(serverUrl ?? '');
  });

  afterAll(async () => {
    await database.drop();
  });

  const env = () => ({ ...process.env, DATABASE_URL: database.url ?? '', AUTH_JWT_SECRET: TEST_JWT_SECRET });

  it('keeps the read models of a service that runs none itself, and rebuilds them online with progress lines', async () => {
    const ledger = await startLedger({ name: 'postgres', env: { DATABASE_URL: database.url ?? '', RUN_PROJECTIONS: 'false' }, dispose: async () => undefined });
    const runner = spawn(process.execPath, [CLI, 'projections', 'run'], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let runnerOutput = '';
    runner.stdout.on('data', (chunk: Buffer) => (runnerOutput += chunk.toString()));
    runner.stderr.on('data', (chunk: Buffer) => (runnerOutput += chunk.toString()));
    const ready = await waitForOutput(() => runnerOutput, 'projections running', 15_000);
    try {
      expect(ready).toBe(true);
      const admin = await tokenFor('ops', 'admin');
      const nina = await tokenFor('nina');
      await request(ledger.baseUrl).post('/api/admin/accounts/nina/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '50', reason: 'cli' }).expect(201);
      const used = await request(ledger.baseUrl).post('/api/credits/use').set('Authorization', `Bearer ${nina}`).send({ service: 'sms', quantity: 3 }).expect(200);

      // Only the separate process can move the read model to this position.
      const seen = await request(ledger.baseUrl)
        .get(`/api/credits/balance?minPosition=${used.body.position}`)
        .set('Authorization', `Bearer ${nina}`)
        .expect(200);
      expect(seen.body).toMatchObject({ balance: '47.000', totalUsed: '3.000' });

      const output = execFileSync(process.execPath, [CLI, 'projections', 'rebuild', '--projection', 'balances'], { cwd: ROOT, env: env(), encoding: 'utf8' });
      expect(output).toMatch(/^balances: \d+ events, [\d,]+ events\/s, ETA/m);
      expect(output).toMatch(/^balances: rebuilt from 2 events in [\d.]+ s, swapped in at position \d+$/m);
      const after = await request(ledger.baseUrl).get('/api/credits/balance').set('Authorization', `Bearer ${nina}`).expect(200);
      const { estimatedDepletionAt: _then, ...seenRest } = seen.body;
      const { estimatedDepletionAt: _now, ...afterRest } = after.body;
      expect(afterRest).toEqual(seenRest);
    } finally {
      runner.kill('SIGTERM');
      await new Promise((resolve) => runner.once('exit', resolve));
      await ledger.stop();
    }
    expect(runner.exitCode).toBe(0);
  });

  it('refuses an unknown projection with the list of known ones', () => {
    let failure: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [CLI, 'projections', 'rebuild', '--projection', 'nope'], { cwd: ROOT, env: env(), stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      failure = error as { status?: number; stderr?: string };
    }
    expect(failure.status).toBe(2);
    expect(failure.stderr).toContain('projections: balances, transactions, usage_daily, purchases');
  });
});
