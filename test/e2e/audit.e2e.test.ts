import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { GENESIS_HASH } from '../../src/application/accounts/event-chain';
import { EVENT_STORE, type EventStore } from '../../src/application/event-store.port';
import { auditLog, type AuditProblem } from '../../src/infrastructure/audit/log-auditor';
import { PROJECTIONS } from '../../src/projections/projections.registry';
import { countEvents, headPosition, startLedger, storageTargets, TEST_JWT_SECRET, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js');

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(storageTargets())('audit: hash chains, the auditor API and `ledger audit verify` on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let admin: string;
  let auditor: string;

  beforeAll(async () => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe' });
    storage = await makeStorage();
    ledger = await startLedger(storage);
    admin = await tokenFor('ops', 'admin');
    auditor = await tokenFor('eve', 'auditor');
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  const http = () => request(ledger.baseUrl);
  const grant = (accountId: string, credits: string) =>
    http().post(`/api/admin/accounts/${accountId}/grants`).set('Authorization', `Bearer ${admin}`).send({ credits, reason: 'audit test' }).expect(201);
  const spend = async (accountId: string, quantity: number) =>
    http().post('/api/credits/use').set('Authorization', `Bearer ${await tokenFor(accountId)}`).send({ service: 'sms', quantity }).expect(200);
  const caughtUp = async () => {
    const head = await headPosition(ledger.sql);
    await http().get(`/api/credits/balance?accountId=nobody&minPosition=${head}`).set('Authorization', `Bearer ${auditor}`).expect(200);
    await http().get(`/api/credits/transactions?accountId=nobody&minPosition=${head}`).set('Authorization', `Bearer ${auditor}`).expect(200);
  };
  const verify = async (): Promise<readonly AuditProblem[]> => {
    const report = await auditLog(ledger.sql, ledger.app.get<EventStore>(EVENT_STORE), { projections: PROJECTIONS });
    expect(report.readModelsNotCompared).toEqual([]);
    expect(report.readModelsCompared).toEqual(['balances', 'transactions', 'usage_daily', 'purchases']);
    return report.problems;
  };

  it('chains every event of a stream to the one before it, as the auditor API shows', async () => {
    await grant('chained', '100');
    await spend('chained', 2);
    await spend('chained', 3);

    const events = (await http().get('/api/audit/accounts/chained/events').set('Authorization', `Bearer ${auditor}`).expect(200)).body;

    expect(events.map((event: { type: string }) => event.type)).toEqual(['CreditsGranted', 'CreditsUsed', 'CreditsUsed']);
    expect(events.map((event: { streamPosition: number }) => event.streamPosition)).toEqual([0, 1, 2]);
    expect(events[0].metadata.prevHash).toBe(GENESIS_HASH);
    expect(events[1].metadata.prevHash).toBe(events[0].metadata.hash);
    expect(events[2].metadata.prevHash).toBe(events[1].metadata.hash);
    expect(events[0]).toMatchObject({ eventId: expect.any(String), data: { accountId: 'chained' }, position: expect.any(Number), recordedAt: expect.any(String) });
    const page = (await http().get('/api/audit/accounts/chained/events?fromPosition=1&limit=1').set('Authorization', `Bearer ${auditor}`).expect(200)).body;
    expect(page.map((event: { eventId: string }) => event.eventId)).toEqual([events[1].eventId]);
  });

  it('answers the balance as of several instants from the log', async () => {
    const before = new Date().toISOString();
    await pause(20);
    await grant('historian', '100');
    await pause(20);
    const afterGrant = new Date().toISOString();
    await pause(20);
    await spend('historian', 4);
    await pause(20);
    const afterSpend = new Date().toISOString();
    await pause(20);
    await spend('historian', 1);

    const asOf = async (instant: string) =>
      (await http().get(`/api/audit/accounts/historian/balance?asOf=${encodeURIComponent(instant)}`).set('Authorization', `Bearer ${auditor}`).expect(200)).body;

    expect(await asOf(before)).toMatchObject({ balance: '0.000', totalGranted: '0.000', position: null, eventsApplied: 0 });
    expect(await asOf(afterGrant)).toMatchObject({ balance: '100.000', totalGranted: '100.000', totalUsed: '0.000', streamPosition: 0, eventsApplied: 1 });
    expect(await asOf(afterSpend)).toMatchObject({ balance: '96.000', available: '96.000', totalUsed: '4.000', streamPosition: 1 });
    expect(await asOf(new Date(Date.now() + 1000).toISOString())).toMatchObject({ balance: '95.000', totalUsed: '5.000', streamPosition: 2, eventsApplied: 3 });
  });

  it('lets auditors (and admins) read the audit routes, no one else, and never lets an auditor write', async () => {
    const user = await tokenFor('historian');
    const service = await tokenFor('backend', 'service');
    for (const token of [user, service]) {
      await http().get('/api/audit/accounts/historian/events').set('Authorization', `Bearer ${token}`).expect(403);
      await http().get(`/api/audit/accounts/historian/balance?asOf=${new Date().toISOString()}`).set('Authorization', `Bearer ${token}`).expect(403);
    }
    await http().get('/api/audit/accounts/historian/events').expect(401);
    await http().get('/api/audit/accounts/historian/events').set('Authorization', `Bearer ${admin}`).expect(200);

    const events = await countEvents(ledger.sql);
    await http().post('/api/admin/accounts/historian/grants').set('Authorization', `Bearer ${auditor}`).send({ credits: '1', reason: 'x' }).expect(403);
    await http().post('/api/credits/use').set('Authorization', `Bearer ${auditor}`).send({ service: 'sms', quantity: 1, accountId: 'historian' }).expect(403);
    await http().post('/api/credits/reservations').set('Authorization', `Bearer ${auditor}`).send({ service: 'sms', quantity: 1, accountId: 'historian' }).expect(403);
    await http().put('/api/credits/alerts').set('Authorization', `Bearer ${auditor}`).send({ lowBalanceThreshold: '1' }).expect(403);
    expect(await countEvents(ledger.sql)).toBe(events);
  });

  it('refuses malformed audit queries with 400 and the fields named', async () => {
    const bad = async (path: string, field: string) => {
      const answer = await http().get(path).set('Authorization', `Bearer ${auditor}`).expect(400);
      expect(answer.body).toMatchObject({ error: 'validation_failed', fields: expect.arrayContaining([expect.objectContaining({ field })]) });
    };
    await bad('/api/audit/accounts/historian/balance', 'query.asOf');
    await bad('/api/audit/accounts/historian/balance?asOf=yesterday', 'query.asOf');
    await bad('/api/audit/accounts/historian/events?limit=0', 'query.limit');
    await bad('/api/audit/accounts/historian/events?fromPosition=-1', 'query.fromPosition');
    await bad('/api/audit/accounts/historian/events?sneaky=1', 'query');
  });

  it('finds nothing wrong in an untouched log, then finds a changed event, a deleted event and edited read-model rows', async () => {
    for (const account of ['changed', 'deleted', 'edited']) {
      await grant(account, '100');
      await spend(account, 1);
      await spend(account, 2);
    }
    await caughtUp();
    expect(await verify()).toEqual([]);

    await ledger.sql.query(
      `UPDATE ledger_events SET data = jsonb_set(data::jsonb, '{creditsMillicredits}', '200000') WHERE stream_id = 'credit-account-changed' AND stream_revision = 0`,
    );
    await ledger.sql.query(`DELETE FROM ledger_events WHERE stream_id = 'credit-account-deleted' AND stream_revision = 1`);
    await ledger.sql.query(`UPDATE balances SET balance = balance + 5000 WHERE account_id = 'edited'`);
    await ledger.sql.query(`UPDATE transactions SET credits = -1 WHERE account_id = 'edited' AND stream_revision = 2`);

    const problems = await verify();
    const about = (account: string, check: AuditProblem['check']) => problems.filter((problem) => problem.account === account && problem.check === check);

    expect(about('changed', 'chain')).toEqual([expect.objectContaining({ subject: expect.stringContaining('hash_mismatch at revision 0') })]);
    // The replay of the changed log credits 20 where the read model, built before the change, holds 10.
    expect(about('changed', 'read_model')).toContainEqual(expect.objectContaining({ subject: expect.stringContaining('balances.balance'), stored: '97.000', recomputed: '197.000' }));
    expect(about('deleted', 'chain').map((problem) => problem.subject)).toEqual(
      expect.arrayContaining([expect.stringContaining('revision_gap at revision 2'), expect.stringContaining('broken_link at revision 2')]),
    );
    expect(about('deleted', 'read_model')).toContainEqual(expect.objectContaining({ subject: expect.stringContaining('balances.balance'), stored: '97.000', recomputed: '98.000' }));
    expect(about('edited', 'chain')).toEqual([]);
    expect(about('edited', 'read_model')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subject: expect.stringContaining('balances.balance'), stored: '102.000', recomputed: '97.000', position: expect.any(BigInt) }),
        expect.objectContaining({ subject: expect.stringContaining('transactions.credits'), stored: '-0.001', recomputed: '-2.000' }),
      ]),
    );
    expect(problems.filter((problem) => !['changed', 'deleted', 'edited'].includes(problem.account ?? ''))).toEqual([]);
  });

  it('`npm run ledger -- audit verify` prints each mismatch and exits non-zero; --help lists the commands', async () => {
    await ledger.stop(); // PGlite belongs to one process at a time
    const env = { ...process.env, ...storage.env, AUTH_JWT_SECRET: TEST_JWT_SECRET, RUN_PROJECTIONS: 'false' };
    const run = spawnSync(process.execPath, [CLI, 'audit', 'verify'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });

    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^MISMATCH chain account=changed position=\d+ hash_mismatch at revision 0 of credit-account-changed: stored=[0-9a-f]{64} recomputed=[0-9a-f]{64}$/m);
    expect(run.stdout).toMatch(/^MISMATCH read_model account=edited position=\d+ balances\.balance \(account_id="edited"\): stored=102\.000 recomputed=97\.000$/m);
    expect(run.stdout).toMatch(/^FAILED: \d+ mismatch\(es\)$/m);

    const help = spawnSync(process.execPath, [CLI, '--help'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('audit verify');
    expect(help.stdout).toContain('export transactions');
    ledger = await startLedger(storage);
  }, 90_000);
});
