import type { TestDatabase } from '../support/databases';
import { call, waitFor } from './support/http';
import { commandAtomicityProblems, countLog, millicreditsOf, readLog, replayAccounts } from './support/ledger-log';
import { mint, saveOutput, secretsInOutput, serviceOutput, ServiceProcess } from './support/service-process';
import { freshSharedDatabase } from './support/shared-database';

/**
 * Concurrency of the real service: spends racing for too few credits, one Idempotency-Key
 * sent many times at once, and a capture racing a release of one reservation. Two
 * processes serve the same database and requests alternate between them, so the races
 * are both within a process (its per-account queue) and between processes (the
 * expected-revision check of the append).
 */
const ACCOUNTS = Array.from({ length: 10 }, (_, index) => `race-${index}`);
const CREDITS_PER_ACCOUNT = 37;
const SPENDS = 1000;

describe('races', () => {
  let database: TestDatabase & { url: string };
  let service: ServiceProcess;
  let twin: ServiceProcess;
  let admin: string;
  let backend: string;

  beforeAll(async () => {
    database = await freshSharedDatabase();
    service = await ServiceProcess.create({ DATABASE_URL: database.url });
    await service.start();
    twin = await ServiceProcess.create({ DATABASE_URL: database.url });
    await twin.start();
    admin = await mint('race-ops', 'admin');
    backend = await mint('race-backend', 'service');
  });

  afterAll(async () => {
    await service?.stop();
    await twin?.stop();
    await database?.drop();
    saveOutput('races');
  });

  /** The two processes, alternately. */
  const baseUrl = (index: number): string => (index % 2 === 0 ? service.baseUrl : twin.baseUrl);
  /** A write answered 503 (conflicts with the other process exhausted its attempts) is retried with its key, as the API asks. */
  const withRetries = async (send: () => ReturnType<typeof call>): ReturnType<typeof call> => {
    for (let attempt = 1; ; attempt += 1) {
      const answer = await send();
      if (answer.status !== 503 || attempt === 10) return answer;
    }
  };

  it(`${SPENDS} concurrent spends over ${ACCOUNTS.length} accounts: exactly as many succeed as fit, available never below zero`, async () => {
    for (const accountId of ACCOUNTS) {
      const grant = await call(service.baseUrl, 'POST', `/api/admin/accounts/${accountId}/grants`, {
        token: admin,
        body: { credits: String(CREDITS_PER_ACCOUNT), reason: 'race' },
      });
      expect(grant.status).toBe(201);
    }
    // 100 spends of 1 credit per account against 37 credits each: 37 fit per account.
    const answers = await Promise.all(
      Array.from({ length: SPENDS }, (_, index) => {
        const accountId = ACCOUNTS[index % ACCOUNTS.length] ?? 'race-0';
        return withRetries(() =>
          call(baseUrl(index), 'POST', '/api/credits/use', {
            token: backend,
            body: { service: 'sms', quantity: 1, accountId },
            headers: { 'idempotency-key': `race-spend-${index}` },
            timeoutMs: 120_000,
          }),
        ).then((answer) => ({ accountId, answer }));
      }),
    );
    const statuses = answers.map(({ answer }) => answer.status);
    expect(statuses.filter((status) => status !== 200 && status !== 402)).toEqual([]);
    for (const accountId of ACCOUNTS) {
      const mine = answers.filter((entry) => entry.accountId === accountId);
      expect(mine.filter(({ answer }) => answer.status === 200)).toHaveLength(CREDITS_PER_ACCOUNT);
      for (const { answer } of mine) {
        if (answer.status === 200) expect(millicreditsOf(answer.json.available)).toBeGreaterThanOrEqual(0);
        else expect(answer.json).toMatchObject({ error: 'insufficient_credits', available: '0.000', required: '1.000' });
      }
    }
    const log = await readLog(database.url);
    expect(commandAtomicityProblems(log)).toEqual([]);
    const { accounts, problems } = replayAccounts(log);
    expect(problems).toEqual([]);
    for (const accountId of ACCOUNTS) {
      expect(accounts.get(accountId)?.lowestAvailableMillicredits).toBeGreaterThanOrEqual(0);
      expect(accounts.get(accountId)?.availableMillicredits).toBe(0);
    }
    expect(log.filter((event) => event.type === 'CreditsUsed')).toHaveLength(CREDITS_PER_ACCOUNT * ACCOUNTS.length);
  });

  it('concurrent requests with one Idempotency-Key: one executes, the others replay its exact answer', async () => {
    const accountId = 'race-idem';
    expect((await call(service.baseUrl, 'POST', `/api/admin/accounts/${accountId}/grants`, { token: admin, body: { credits: '100', reason: 'race' } })).status).toBe(201);
    const before = await countLog(database.url);
    const body = { service: 'gpt-4', quantity: 1234, accountId, metadata: { call: 'same' } };
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        withRetries(() =>
          call(baseUrl(index), 'POST', '/api/credits/use', { token: backend, body, headers: { 'idempotency-key': 'one-key-many-times' }, timeoutMs: 60_000 }),
        ),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    const originals = answers.filter((answer) => answer.headers.get('idempotent-replayed') !== 'true');
    const replays = answers.filter((answer) => answer.headers.get('idempotent-replayed') === 'true');
    expect(originals).toHaveLength(1);
    expect(replays).toHaveLength(39);
    for (const replay of replays) expect(replay.text).toBe(originals[0]?.text);
    // One spend recorded (and no alert: 100 - 0.075 stays above the threshold).
    expect(await countLog(database.url)).toBe(before + 1);
  });

  it('a capture and a release of one reservation at once: one wins, the other gets 409 reservation_closed', async () => {
    const accountId = 'race-rsv';
    expect((await call(service.baseUrl, 'POST', `/api/admin/accounts/${accountId}/grants`, { token: admin, body: { credits: '1000', reason: 'race' } })).status).toBe(201);
    const winners: string[] = [];
    for (let round = 0; round < 15; round += 1) {
      const reservation = await call(service.baseUrl, 'POST', '/api/credits/reservations', {
        token: backend,
        body: { service: 'voice_call', quantity: 120, accountId },
      });
      expect(reservation.status).toBe(201);
      const id = encodeURIComponent(reservation.json.reservationId);
      // Each on a different process, taking turns at which one goes first.
      const capture$ = () => withRetries(() => call(baseUrl(round), 'POST', `/api/credits/reservations/${id}/capture`, { token: backend, body: { quantity: 60 } }));
      const release$ = () => withRetries(() => call(baseUrl(round + 1), 'POST', `/api/credits/reservations/${id}/release`, { token: backend }));
      const [capture, release] =
        round % 2 === 0 ? await Promise.all([capture$(), release$()]) : await Promise.all([release$(), capture$()]).then(([r, c]) => [c, r] as const);
      const statuses = [capture.status, release.status].sort();
      expect(statuses).toEqual([200, 409]);
      const loser = capture.status === 409 ? capture : release;
      expect(loser.json.error).toBe('reservation_closed');
      winners.push(capture.status === 200 ? 'capture' : 'release');
    }
    const log = await readLog(database.url);
    const closes = log.filter((event) => event.streamId === `credit-account-${accountId}` && (event.type === 'ReservationCaptured' || event.type === 'ReservationReleased'));
    expect(closes).toHaveLength(15);
    const { accounts } = replayAccounts(log);
    expect(accounts.get(accountId)?.state.reservedMillicredits).toBe(0);
    const auditor = await mint('race-auditor', 'auditor');
    await waitFor(
      'the balance read model to show no reservation held',
      async () => (await call(service.baseUrl, 'GET', `/api/credits/balance?accountId=${accountId}`, { token: auditor })).json.reserved === '0.000',
      30_000,
    );
    process.stdout.write(`races: capture/release winners ${JSON.stringify(winners)}\n`);
  });

  it('never crashed', () => {
    expect(service.unexpectedExits).toBe(0);
    expect(twin.unexpectedExits).toBe(0);
  });

  it('printed none of the tokens, secrets or Authorization headers it was given', () => {
    // Something was printed (requests are logged), and none of it is a secret.
    expect(serviceOutput().length).toBeGreaterThan(1000);
    expect(secretsInOutput()).toEqual([]);
  });
});
