import { randomInt } from 'node:crypto';
import { call, sleep, waitFor } from './support/http';
import {
  commandAtomicityProblems,
  millicreditsOf,
  readLog,
  replayAccounts,
  STREAM_PREFIX,
  summedBalances,
} from './support/ledger-log';
import { createPrivatePostgres, type PrivatePostgres } from './support/private-postgres';
import { mint, saveOutput, secretsInOutput, serviceOutput, ServiceProcess } from './support/service-process';

/**
 * Crash safety of the real process: client loops spend under load while the service is
 * SIGKILLed at random moments (and Postgres itself is cut off once with an immediate
 * shutdown). Every acknowledged spend must be in the log exactly once, no command may be
 * half-applied, balances must equal a replay of the log, and the read models converge.
 */
const KILLS = 12;
const CLIENT_LOOPS = 4;
const ACCOUNTS = ['crash-a', 'crash-b', 'crash-c', 'crash-d', 'crash-e', 'crash-low'];
/** crash-low starts small, so spends cross its low-balance threshold and then run out (402). */
const GRANT_CREDITS: Readonly<Record<string, string>> = { 'crash-low': '60' };
const SPENDS = [
  { service: 'sms', quantity: () => 1 + randomInt(3) },
  { service: 'gpt-4', quantity: () => 1 + randomInt(5000) },
  { service: 'voice_call', quantity: () => 1 + randomInt(600) },
] as const;

interface Acknowledged {
  readonly key: string;
  readonly accountId: string;
  readonly usageId: string;
  readonly position: number;
  readonly replayed: boolean;
}

describe('crashes: SIGKILL under load, and an immediate Postgres restart', () => {
  let pg: PrivatePostgres;
  let service: ServiceProcess;

  beforeAll(async () => {
    pg = await createPrivatePostgres();
    service = await ServiceProcess.create({ DATABASE_URL: pg.url });
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    await pg?.destroy();
    saveOutput('crash');
  });

  it('loses no acknowledged spend, half-applies no command, and every balance equals the replayed log', async () => {
    const admin = await mint('crash-ops', 'admin');
    const backend = await mint('crash-backend', 'service');
    const auditor = await mint('crash-auditor', 'auditor');
    for (const accountId of ACCOUNTS) {
      const grant = await call(service.baseUrl, 'POST', `/api/admin/accounts/${accountId}/grants`, {
        token: admin,
        body: { credits: GRANT_CREDITS[accountId] ?? '1000000', reason: 'crash test' },
        headers: { 'idempotency-key': `grant-${accountId}` },
      });
      expect(grant.status).toBe(201);
    }

    const acknowledged: Acknowledged[] = [];
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    let stopped = false;

    const clientLoop = async (loop: number): Promise<void> => {
      for (let n = 0; !stopped; n += 1) {
        const accountId = ACCOUNTS[randomInt(ACCOUNTS.length)] ?? 'crash-a';
        const spend = SPENDS[randomInt(SPENDS.length)] ?? SPENDS[0];
        const key = `crash-${loop}-${n}`;
        const body = { service: spend.service, quantity: spend.quantity(), accountId };
        // A client that got no answer retries with the same key, as the API asks it to.
        for (let attempt = 0; attempt < 3 && !stopped; attempt += 1) {
          try {
            const answer = await call(service.baseUrl, 'POST', '/api/credits/use', {
              token: backend,
              body,
              headers: { 'idempotency-key': key },
              timeoutMs: 10_000,
            });
            count(String(answer.status));
            if (answer.status === 200) {
              acknowledged.push({
                key,
                accountId,
                usageId: answer.json.usageId,
                position: answer.json.position,
                replayed: answer.headers.get('idempotent-replayed') === 'true',
              });
            }
            if (answer.status !== 503) break;
          } catch {
            count('no answer');
          }
          await sleep(50 + randomInt(200));
        }
      }
    };

    const loops = Array.from({ length: CLIENT_LOOPS }, (_, loop) => clientLoop(loop));
    try {
      for (let kill = 1; kill <= KILLS; kill += 1) {
        await sleep(400 + randomInt(1600));
        if (kill === Math.ceil(KILLS / 2)) {
          // The database goes away under the running service, and comes back: the service must recover by itself.
          pg.stopImmediately();
          await sleep(1500);
          await pg.start();
          await waitFor('the service to be healthy again after Postgres came back', async () => (await call(service.baseUrl, 'GET', '/health')).status === 200, 60_000);
          await sleep(300 + randomInt(700));
        }
        await service.kill();
        await service.start();
      }
      await sleep(1000);
    } finally {
      stopped = true;
      await Promise.all(loops);
    }

    expect(service.starts).toBeGreaterThanOrEqual(KILLS + 1);
    // The load was real: many spends acknowledged. No answer was a 5xx other than 503.
    expect(acknowledged.length).toBeGreaterThan(100);
    expect([...outcomes.keys()].filter((status) => /^5/.test(status) && status !== '503')).toEqual([]);

    const log = await readLog(pg.url);
    const spendsByKey = new Map<string, { usageId: unknown; position: bigint; streamId: string }[]>();
    const lastPositionByCommand = new Map<string, bigint>();
    for (const event of log) {
      const commandId = String(event.data['commandId']);
      const commandKey = `${event.streamId}|${commandId}`;
      const last = lastPositionByCommand.get(commandKey);
      if (last === undefined || event.position > last) lastPositionByCommand.set(commandKey, event.position);
      if (event.type !== 'CreditsUsed' || !commandId.startsWith('key:')) continue;
      const key = commandId.slice('key:'.length);
      spendsByKey.set(key, [...(spendsByKey.get(key) ?? []), { usageId: event.data['usageId'], position: event.position, streamId: event.streamId }]);
    }

    // Exactly once: every acknowledged spend is one CreditsUsed, with the usageId and position it was answered with.
    const lost: string[] = [];
    for (const ack of acknowledged) {
      const found = spendsByKey.get(ack.key) ?? [];
      const commandKey = `${STREAM_PREFIX}${ack.accountId}|key:${ack.key}`;
      if (
        found.length !== 1 ||
        found[0]?.usageId !== ack.usageId ||
        found[0]?.streamId !== `${STREAM_PREFIX}${ack.accountId}` ||
        lastPositionByCommand.get(commandKey) !== BigInt(ack.position)
      ) {
        lost.push(`${ack.key}: acknowledged ${ack.usageId}@${ack.position}, log has ${JSON.stringify(found, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
    }
    expect(lost).toEqual([]);
    // No key ever charged twice, acknowledged or not.
    expect([...spendsByKey].filter(([, events]) => events.length > 1).map(([key]) => key)).toEqual([]);

    // All-or-nothing: one transaction and consecutive revisions per command; no crossing without its alert.
    expect(commandAtomicityProblems(log)).toEqual([]);
    const { accounts, problems } = replayAccounts(log);
    expect(problems).toEqual([]);
    const summed = summedBalances(log);
    for (const accountId of ACCOUNTS) {
      const replay = accounts.get(accountId);
      expect(replay).toBeDefined();
      expect(replay?.lowestAvailableMillicredits).toBeGreaterThanOrEqual(0);
      expect(summed.get(accountId)).toBe(replay?.balanceMillicredits);
    }
    // crash-low ran dry and crossed its threshold on the way down.
    expect(log.some((event) => event.type === 'LowBalanceReached' && event.streamId === `${STREAM_PREFIX}crash-low`)).toBe(true);

    // The read models converge to the replay.
    for (const accountId of ACCOUNTS) {
      const replay = accounts.get(accountId);
      let seen = '';
      await waitFor(
        `the balances read model of ${accountId} to equal the replay`,
        async () => {
          const answer = await call(service.baseUrl, 'GET', `/api/credits/balance?accountId=${accountId}`, { token: auditor });
          seen = answer.text;
          return (
            answer.status === 200 &&
            millicreditsOf(answer.json.balance) === replay?.balanceMillicredits &&
            millicreditsOf(answer.json.available) === replay?.availableMillicredits
          );
        },
        60_000,
        () => `(replay ${replay?.balanceMillicredits}/${replay?.availableMillicredits}, last answer ${seen})`,
      );
    }
    process.stdout.write(
      `crash suite: ${service.starts} starts, ${acknowledged.length} acknowledged spends, ${log.length} events, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}\n`,
    );
  });

  it('never crashed', () => {
    expect(service.unexpectedExits).toBe(0);
  });

  it('ran the projections in a worker thread (the built service on Postgres), started again with every restart', () => {
    const threaded = serviceOutput().match(/projections running in a worker thread/g) ?? [];
    expect(threaded.length).toBe(service.starts);
  });

  it('printed none of the tokens, secrets or Authorization headers it was given', () => {
    // Something was printed (requests are logged), and none of it is a secret.
    expect(serviceOutput().length).toBeGreaterThan(1000);
    expect(secretsInOutput()).toEqual([]);
  });
});
