import { randomInt } from 'node:crypto';
import { call, sleep, waitFor, type Answer } from './support/http';
import { millicreditsOf, readLog, replayAccounts, STREAM_PREFIX } from './support/ledger-log';
import { createPrivatePostgres, type PrivatePostgres } from './support/private-postgres';
import { mint, saveOutput, secretsInOutput, serviceOutput, ServiceProcess } from './support/service-process';

/**
 * Postgres stopped under load: the running service answers 503 `unavailable` quickly
 * (never a 500, never a hang), reports itself unhealthy, and recovers on its own once
 * Postgres is back, without losing an acknowledged write.
 */
const REQUEST_TIMEOUT_MS = 5000;
/** No answer may take longer than the deadline plus slack for a loaded machine. */
const ANSWER_BOUND_MS = REQUEST_TIMEOUT_MS + 5000;
const ACCOUNTS = ['fault-a', 'fault-b', 'fault-c'];
/** Postgres goes away this many times; the service must survive every one without a restart. */
const OUTAGES = Number(process.env['RELIABILITY_OUTAGES'] ?? 6);

interface Observation {
  readonly phase: 'before' | 'outage' | 'after';
  readonly what: string;
  readonly status: number | 'no answer';
  readonly error: unknown;
  readonly ms: number;
}

describe('dependency faults: Postgres stopped under load', () => {
  let pg: PrivatePostgres;
  let service: ServiceProcess;

  beforeAll(async () => {
    pg = await createPrivatePostgres();
    service = await ServiceProcess.create({ DATABASE_URL: pg.url, REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    await pg?.destroy();
    saveOutput('dependency-faults');
  });

  it('answers 503 unavailable within a bound while Postgres is down, /health says so, and it recovers by itself', async () => {
    const admin = await mint('fault-ops', 'admin');
    const backend = await mint('fault-backend', 'service');
    const auditor = await mint('fault-auditor', 'auditor');
    for (const accountId of ACCOUNTS) {
      expect((await call(service.baseUrl, 'POST', `/api/admin/accounts/${accountId}/grants`, { token: admin, body: { credits: '100000', reason: 'faults' } })).status).toBe(201);
    }

    let phase: Observation['phase'] = 'before';
    let stopped = false;
    const observations: Observation[] = [];
    const acknowledged: { key: string; accountId: string; usageId: string }[] = [];
    const observe = async (what: string, request: () => Promise<Answer>): Promise<Answer | undefined> => {
      const at = phase;
      const started = Date.now();
      try {
        const answer = await request();
        observations.push({ phase: at, what, status: answer.status, error: answer.json?.error, ms: Date.now() - started });
        return answer;
      } catch (error) {
        observations.push({ phase: at, what, status: 'no answer', error: String(error), ms: Date.now() - started });
        return undefined;
      }
    };

    let sequence = 0;
    const writer = async (): Promise<void> => {
      while (!stopped) {
        const accountId = ACCOUNTS[randomInt(ACCOUNTS.length)] ?? 'fault-a';
        const key = `fault-${(sequence += 1)}`;
        const answer = await observe('spend', () =>
          call(service.baseUrl, 'POST', '/api/credits/use', {
            token: backend,
            body: { service: 'sms', quantity: 1, accountId },
            headers: { 'idempotency-key': key },
            timeoutMs: 30_000,
          }),
        );
        if (answer?.status === 200) acknowledged.push({ key, accountId, usageId: answer.json.usageId });
        await sleep(20);
      }
    };
    const reader = async (): Promise<void> => {
      while (!stopped) {
        const accountId = ACCOUNTS[randomInt(ACCOUNTS.length)] ?? 'fault-a';
        await observe('balance', () => call(service.baseUrl, 'GET', `/api/credits/balance?accountId=${accountId}`, { token: auditor, timeoutMs: 30_000 }));
        await observe('transactions', () =>
          call(service.baseUrl, 'GET', `/api/credits/transactions?accountId=${accountId}&limit=5`, { token: auditor, timeoutMs: 30_000 }),
        );
        await sleep(20);
      }
    };
    const load = [writer(), writer(), reader()];
    /** Outages while the load runs; what /health said during the last one, and where recovery began. */
    const outages = async (): Promise<{ health: Answer; healthMs: number; recoveredAt: number }> => {
      await sleep(2000);
      // Short outages first (connections die at every stage of their work), then a long one that is measured.
      for (let outage = 0; outage < OUTAGES - 1; outage += 1) {
        phase = 'outage';
        pg.stopImmediately();
        await sleep(200 + randomInt(800));
        await pg.start();
        phase = 'after';
        await waitFor(
          'the service to report healthy again, without a restart',
          async () => (await call(service.baseUrl, 'GET', '/health')).status === 200,
          60_000,
          () => '',
          () => (service.running ? undefined : `the service died in outage ${outage + 1}`),
        );
        await sleep(randomInt(1000));
      }
      pg.stopImmediately();
      phase = 'outage';
      await sleep(1000);
      const healthStarted = Date.now();
      const health = await call(service.baseUrl, 'GET', '/health', { timeoutMs: 30_000 });
      const healthMs = Date.now() - healthStarted;
      await sleep(3000);
      await pg.start();
      phase = 'after';
      await waitFor('the service to report healthy again, without a restart', async () => (await call(service.baseUrl, 'GET', '/health')).status === 200, 60_000);
      const recoveredAt = observations.length;
      await sleep(2000);
      return { health, healthMs, recoveredAt };
    };
    let result: Awaited<ReturnType<typeof outages>>;
    try {
      result = await outages();
    } finally {
      // Also when the run fails part-way: the loops must end, or they keep the test process alive.
      stopped = true;
      await Promise.all(load);
    }
    const { health, healthMs, recoveredAt } = result;

    expect(service.starts).toBe(1);
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'unavailable' });
    expect(healthMs).toBeLessThan(ANSWER_BOUND_MS);

    const outage = observations.filter((o) => o.phase === 'outage');
    // Requests kept flowing during the outage and were refused as unavailable, never 500, never hung.
    expect(outage.length).toBeGreaterThan(10);
    // The process never died: no restart, and every answer came from it.
    expect(outage.filter((o) => o.status === 503 && o.error === 'unavailable').length).toBeGreaterThan(5);
    const wrong = observations.filter((o) => o.status === 'no answer' || (o.status >= 500 && o.status !== 503) || (o.status === 503 && o.error !== 'unavailable'));
    expect(wrong).toEqual([]);
    expect(observations.filter((o) => o.ms > ANSWER_BOUND_MS)).toEqual([]);
    // After recovery, writes and reads succeed again.
    const after = observations.slice(recoveredAt);
    expect(after.filter((o) => o.what === 'spend' && o.status === 200).length).toBeGreaterThan(0);
    expect(after.filter((o) => o.what === 'balance' && o.status === 200).length).toBeGreaterThan(0);

    // No acknowledged write lost; balances converge to the replay.
    const log = await readLog(pg.url);
    const used = new Set(log.filter((e) => e.type === 'CreditsUsed').map((e) => `${e.streamId}|${String(e.data['commandId'])}|${String(e.data['usageId'])}`));
    expect(acknowledged.filter((ack) => !used.has(`${STREAM_PREFIX}${ack.accountId}|key:${ack.key}|${ack.usageId}`))).toEqual([]);
    const { accounts, problems } = replayAccounts(log);
    expect(problems).toEqual([]);
    for (const accountId of ACCOUNTS) {
      const replay = accounts.get(accountId);
      await waitFor(
        `the read model of ${accountId} to converge`,
        async () => {
          const answer = await call(service.baseUrl, 'GET', `/api/credits/balance?accountId=${accountId}`, { token: auditor });
          return answer.status === 200 && millicreditsOf(answer.json.balance) === replay?.balanceMillicredits;
        },
        60_000,
      );
    }
    const summary = (list: readonly Observation[]) => JSON.stringify(list.reduce<Record<string, number>>((acc, o) => ({ ...acc, [`${o.what}:${o.status}`]: (acc[`${o.what}:${o.status}`] ?? 0) + 1 }), {}));
    process.stdout.write(`dependency faults: outage ${summary(outage)}; after ${summary(after)}; max ${Math.max(...observations.map((o) => o.ms))} ms\n`);
  });

  it('never crashed', () => {
    expect(service.unexpectedExits).toBe(0);
  });

  it('printed none of the tokens, secrets or Authorization headers it was given', () => {
    // Something was printed (requests are logged), and none of it is a secret.
    expect(serviceOutput().length).toBeGreaterThan(1000);
    expect(secretsInOutput()).toEqual([]);
  });
});
