import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { AccountRepository } from '../../src/application/accounts/account-repository';
import { CatalogService } from '../../src/application/catalog/catalog.service';
import { LEDGER_SETTINGS, type LedgerSettings } from '../../src/application/ledger-settings';
import { decide } from '../../src/domain/account.decider';
import { fold } from '../../src/domain/account.state';
import { formatCredits, parseCredits } from '../../src/domain/money';
import { headPosition, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';
import { eventually } from '../support/read-models';

const PROJECTION_NAMES = ['balances', 'transactions', 'usage_daily', 'purchases', 'expiry_schedule', 'alert_outbox'];
const PAGE_LIMIT = 37;
const SPEND_CONCURRENCY = 20;

/** The spends a client sends, cycling; each charges a different amount (1, 2, 1, 5 and 1.5 credits). */
const SPEND_MIX = [
  { service: 'sms', quantity: 1 },
  { service: 'ai_response', quantity: 1 },
  { service: 'gpt-3.5', quantity: 500 },
  { service: 'document_upload', quantity: 1 },
  { service: 'voice_call', quantity: 90 },
] as const;

interface Spent {
  readonly accountId: string;
  readonly usageId: string;
  readonly service: string;
  readonly quantity: number;
  readonly chargedMillicredits: number;
  readonly position: number;
}

interface Entry {
  readonly id: string;
  readonly type: string;
  readonly credits: string;
  readonly balanceAfter: string;
  readonly service?: string;
  readonly quantity?: number;
  readonly occurredAt: string;
  readonly position: number;
}

const millicredits = (text: string): number => {
  const value = parseCredits(text);
  if (value === null) throw new Error(`not an amount: ${text}`);
  return value;
};

/** Runs `count` tasks with at most `concurrency` in flight. */
const bounded = async <T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> => {
  const results: T[] = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < count; index = next++) results[index] = await task(index);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
};

const sumBy = <T>(items: readonly T[], key: (item: T) => string, value: (item: T) => readonly [number, number]) => {
  const totals = new Map<string, [number, number]>();
  for (const item of items) {
    const [quantity, credits] = value(item);
    const total = totals.get(key(item)) ?? [0, 0];
    totals.set(key(item), [total[0] + quantity, total[1] + credits]);
  }
  return totals;
};

describe.each(storageTargets())('read side over HTTP on %s', (name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let admin: string;
  /** Every spend this ledger accepted, for the usage totals. */
  const spent: Spent[] = [];

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage);
    admin = await tokenFor('ops-admin', 'admin');
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
  });

  const http = () => request(ledger.baseUrl);
  const get = (path: string, token: string) => http().get(path).set('Authorization', `Bearer ${token}`);
  const grant = async (accountId: string, credits: string) =>
    (await http().post(`/api/admin/accounts/${accountId}/grants`).set('Authorization', `Bearer ${admin}`).send({ credits, reason: 'read-side test' }).expect(201))
      .body as { grantId: string; position: number };
  const spend = async (accountId: string, token: string, body: { service: string; quantity: number }): Promise<Spent> => {
    const answer = await http().post('/api/credits/use').set('Authorization', `Bearer ${token}`).send(body);
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 200 });
    const done: Spent = {
      accountId,
      usageId: answer.body.usageId,
      service: body.service,
      quantity: body.quantity,
      chargedMillicredits: millicredits(answer.body.charged),
      position: answer.body.position,
    };
    spent.push(done);
    return done;
  };
  /**
   * `count` spends on one account, for a long history to page through. On Postgres they go
   * over HTTP, 20 at a time. On PGlite the same spends are decided by the service's own
   * decider against state folded once and appended through its repository: over HTTP the
   * write side reloads the whole stream for every command, so 1,000 spends on one account
   * take 30 s and more there. The reads under test are the same either way.
   */
  const seedSpends = async (accountId: string, token: string, count: number): Promise<Spent[]> => {
    const mixAt = (index: number) => SPEND_MIX[index % SPEND_MIX.length] ?? SPEND_MIX[0];
    if (name === 'postgres') return bounded(count, SPEND_CONCURRENCY, (index) => spend(accountId, token, mixAt(index)));
    const accounts = ledger.app.get(AccountRepository);
    const catalog = ledger.app.get(CatalogService);
    const settings = ledger.app.get<LedgerSettings>(LEDGER_SETTINGS);
    let { state, expectedRevision, lastHash } = await accounts.load(accountId);
    const seeded: Spent[] = [];
    for (let index = 0; index < count; index += 1) {
      const { service, quantity } = mixAt(index);
      const now = new Date().toISOString();
      const commandId = randomUUID();
      const usageId = randomUUID();
      const rate = catalog.findRate(service, now) ?? null;
      const decision = decide(
        { type: 'UseCredits', accountId, commandId, requestHash: commandId, now, usageId, service, quantity, rate, metadata: {} },
        state,
        settings,
      );
      if (decision.status !== 'accepted') throw new Error(`seed spend ${index} was ${decision.status}`);
      const appended = await accounts.append(accountId, decision.events, expectedRevision, lastHash);
      lastHash = appended.lastHash;
      const position = Number(appended.position);
      state = fold(state, decision.events.map((event) => ({ event, position })), settings);
      expectedRevision = appended.nextExpectedRevision;
      const charged = decision.events[0]?.type === 'CreditsUsed' ? decision.events[0].data.chargedMillicredits : Number.NaN;
      seeded.push({ accountId, usageId, service, quantity, chargedMillicredits: charged, position });
    }
    spent.push(...seeded);
    return seeded;
  };
  /** Every entry of an account's history, newest first, through the cursor. */
  const allEntries = async (token: string, query: string): Promise<Entry[]> => {
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await get(`/api/credits/transactions?limit=200&${query}${cursor === null ? '' : `&cursor=${cursor}`}`, token).expect(200);
      entries.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return entries;
  };
  /** Each entry's balance after is the older entry's balance after plus its own amount. */
  const expectConsistentBalances = (entries: readonly Entry[]) => {
    const broken = entries
      .map((entry, index) => ({ entry, older: entries[index + 1] }))
      .filter(({ entry, older }) => older !== undefined && millicredits(entry.balanceAfter) !== millicredits(older.balanceAfter) + millicredits(entry.credits))
      .map(({ entry, older }) => `${entry.id}: ${entry.balanceAfter} != ${older?.balanceAfter} + ${entry.credits}`);
    expect(broken).toEqual([]);
  };

  it('shows a spend at once when the read passes the position the spend answered with', async () => {
    const reader = await tokenFor('ryw-reader');
    await grant('ryw-reader', '100');
    let balance = 100_000;
    for (const [index, body] of [...SPEND_MIX, ...SPEND_MIX].entries()) {
      const done = await spend('ryw-reader', reader, body);
      balance -= done.chargedMillicredits;
      // One read each, no retry: the bounded wait inside the query is the only wait.
      const seen = await get(`/api/credits/balance?minPosition=${done.position}`, reader).expect(200);
      expect({ index, ...seen.body }).toMatchObject({ index, balance: formatCredits(balance), available: formatCredits(balance), position: done.position });
      const history = await get(`/api/credits/transactions?limit=1&minPosition=${done.position}`, reader).expect(200);
      expect(history.body.items[0]).toMatchObject({ id: done.usageId, type: 'usage', credits: formatCredits(-done.chargedMillicredits), balanceAfter: formatCredits(balance) });
    }
  });

  it('pages through 1,000 entries, each exactly once, newest first, while new spends arrive', async () => {
    const pager = await tokenFor('pager');
    const granted = await grant('pager', '5000');
    const before = await seedSpends('pager', pager, 999);
    const existing = new Set([granted.grantId, ...before.map((done) => done.usageId)]);
    expect(existing.size).toBe(1000);
    const seenAll = Math.max(granted.position, ...before.map((done) => done.position));

    // The first page is read before any new spend, with the position of the last old one.
    const pages: Entry[][] = [];
    const first = await get(`/api/credits/transactions?limit=${PAGE_LIMIT}&minPosition=${seenAll}`, pager).expect(200);
    pages.push(first.body.items);
    let cursor: string | null = first.body.nextCursor;

    let paging = true;
    const arrivals: Spent[] = [];
    const arriving = (async () => {
      for (let round = 0; paging; round += 1) {
        arrivals.push(...(await Promise.all(Array.from({ length: 5 }, (_, i) => spend('pager', pager, SPEND_MIX[(round + i) % SPEND_MIX.length] ?? SPEND_MIX[0])))));
      }
    })();
    try {
      await eventually('a new spend to arrive while paging', () => arrivals.length > 0);
      // Later pages are read once that new spend is in the read model: newer entries are there to disturb them.
      const newest = Math.max(...arrivals.map((done) => done.position));
      while (cursor !== null) {
        const page: request.Response = await get(`/api/credits/transactions?limit=${PAGE_LIMIT}&cursor=${cursor}&minPosition=${newest}`, pager).expect(200);
        pages.push(page.body.items);
        cursor = page.body.nextCursor;
      }
    } finally {
      paging = false;
      await arriving;
    }
    expect(arrivals.length).toBeGreaterThan(0);

    const entries = pages.flat();
    const ids = entries.map((entry) => entry.id);
    expect(pages.slice(0, -1).every((page) => page.length === PAGE_LIMIT)).toBe(true);
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual([...existing].sort());
    const positions = entries.map((entry) => entry.position);
    expect(positions).toEqual([...positions].sort((a, b) => b - a));
    expect(new Set(positions).size).toBe(positions.length);
    expectConsistentBalances(entries);
    expect(entries.at(-1)).toMatchObject({ id: granted.grantId, type: 'grant', credits: '5000.000', balanceAfter: '5000.000' });
    const spentBefore = before.reduce((sum, done) => sum + done.chargedMillicredits, 0);
    expect(entries[0]?.balanceAfter).toBe(formatCredits(5_000_000 - spentBefore));

    // Afterwards the whole history holds the old entries and the new ones, each once.
    const everything = await allEntries(pager, `minPosition=${Math.max(...arrivals.map((done) => done.position))}`);
    expect(everything.map((entry) => entry.id).sort()).toEqual([...existing, ...arrivals.map((done) => done.usageId)].sort());
    expectConsistentBalances(everything);
    // 1,000 spends over HTTP on one account take ~15 s on Postgres (see seedSpends): the time is in the writes.
  }, 60_000);

  it('filters by type, bounds the page size, and refuses bad cursors and unknown parameters', async () => {
    const filter = await tokenFor('filter');
    await grant('filter', '50');
    await spend('filter', filter, { service: 'sms', quantity: 2 });
    await spend('filter', filter, { service: 'ai_response', quantity: 1 });
    const adjust = (credits: string) =>
      http().post('/api/admin/accounts/filter/adjustments').set('Authorization', `Bearer ${admin}`).send({ credits, reason: 'correction' }).expect(201);
    await adjust('2.500');
    const last = (await adjust('-1')).body.position as number;

    const ofType = async (type: string) => (await get(`/api/credits/transactions?type=${type}&minPosition=${last}`, filter).expect(200)).body;
    expect((await ofType('usage')).items.map((entry: Entry) => [entry.type, entry.service, entry.credits])).toEqual([
      ['usage', 'ai_response', '-2.000'],
      ['usage', 'sms', '-2.000'],
    ]);
    expect((await ofType('grant')).items.map((entry: Entry) => [entry.type, entry.credits, entry.balanceAfter])).toEqual([['grant', '50.000', '50.000']]);
    expect((await ofType('adjustment')).items.map((entry: Entry) => [entry.credits, entry.balanceAfter])).toEqual([
      ['-1.000', '47.500'],
      ['2.500', '48.500'],
    ]);
    expect(await ofType('purchase')).toEqual({ items: [], nextCursor: null });

    const firstUsage = await get('/api/credits/transactions?type=usage&limit=1', filter).expect(200);
    expect(firstUsage.body.items).toHaveLength(1);
    expect(firstUsage.body.nextCursor).toEqual(expect.any(String));
    const secondUsage = await get(`/api/credits/transactions?type=usage&limit=1&cursor=${firstUsage.body.nextCursor}`, filter).expect(200);
    expect(secondUsage.body.items.map((entry: Entry) => entry.service)).toEqual(['sms']);
    expect(secondUsage.body.nextCursor).toBeNull();
    expect((await get('/api/credits/transactions?limit=200', filter).expect(200)).body.items).toHaveLength(5);
    expect((await get('/api/credits/transactions?limit=1', filter).expect(200)).body.items).toHaveLength(1);

    const refused = async (path: string, token = filter) => {
      const answer = await get(path, token);
      expect({ path, status: answer.status, error: answer.body.error }).toEqual({ path, status: 400, error: 'validation_failed' });
    };
    await refused('/api/credits/transactions?limit=0');
    await refused('/api/credits/transactions?limit=201');
    await refused('/api/credits/transactions?limit=ten');
    await refused('/api/credits/transactions?type=teleport');
    await refused('/api/credits/transactions?cursor=garbage');
    await refused(`/api/credits/transactions?cursor=${Buffer.from('v1.-5').toString('base64url')}`);
    await refused(`/api/credits/transactions?cursor=${firstUsage.body.nextCursor}x`);
    await refused('/api/credits/transactions?minPosition=-1');
    await refused('/api/credits/transactions?page=2');
    await refused('/api/credits/balance?verbose=true');
    await refused('/api/credits/usage?groupBy=hour');
    await refused('/api/credits/usage?interval=day');
    await refused('/api/admin/analytics/usage?top=5', admin);
  });

  it('totals usage by service and by day to match the spends', async () => {
    const totals = await tokenFor('totals');
    await grant('totals', '500');
    for (const body of [...SPEND_MIX, ...SPEND_MIX, SPEND_MIX[3]]) await spend('totals', totals, body);
    const mine = spent.filter((done) => done.accountId === 'totals');
    const last = Math.max(...mine.map((done) => done.position));

    const byService = await get(`/api/credits/usage?groupBy=service&minPosition=${last}`, totals).expect(200);
    const expectedByService = sumBy(mine, (done) => done.service, (done) => [done.quantity, done.chargedMillicredits]);
    expect(byService.body).toMatchObject({ accountId: 'totals', groupBy: 'service' });
    expect(byService.body.items).toEqual(
      [...expectedByService]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([service, [quantity, credits]]) => ({ service, quantity, credits: formatCredits(credits) })),
    );
    const total = formatCredits(mine.reduce((sum, done) => sum + done.chargedMillicredits, 0));
    expect(byService.body.totalCredits).toBe(total);
    expect((await get('/api/credits/usage', totals).expect(200)).body.items).toEqual(byService.body.items);

    // The day of each charge, from the account's own history (another projection).
    const usage = await allEntries(totals, `type=usage&minPosition=${last}`);
    const expectedByDay = sumBy(usage, (entry) => entry.occurredAt.slice(0, 10), (entry) => [entry.quantity ?? 0, -millicredits(entry.credits)]);
    const byDay = await get(`/api/credits/usage?groupBy=day&minPosition=${last}`, totals).expect(200);
    expect(byDay.body.items).toEqual(
      [...expectedByDay]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([day, [quantity, credits]]) => ({ day, quantity, credits: formatCredits(credits) })),
    );
    expect(byDay.body.totalCredits).toBe(total);

    const longAgo = await get('/api/credits/usage?from=2020-01-01&to=2020-01-31', totals).expect(200);
    expect(longAgo.body).toMatchObject({ from: '2020-01-01', to: '2020-01-31', items: [], totalCredits: '0.000' });
  });

  it('shows org-wide usage by service and the top accounts to admins and auditors only', async () => {
    const head = await headPosition(ledger.sql);
    const [auditor, user, service] = await Promise.all([tokenFor('auditor-1', 'auditor'), tokenFor('pager'), tokenFor('billing', 'service')]);
    for (const token of [user, service]) {
      expect((await get('/api/admin/analytics/usage', token).expect(403)).body.error).toBe('forbidden');
    }
    const seenByAdmin = await get(`/api/admin/analytics/usage?minPosition=${head}`, admin).expect(200);
    const seenByAuditor = await get(`/api/admin/analytics/usage?minPosition=${head}`, auditor).expect(200);
    expect(seenByAuditor.body).toEqual(seenByAdmin.body);

    const byService = sumBy(spent, (done) => done.service, (done) => [done.quantity, done.chargedMillicredits]);
    const accountsOf = (service: string) => new Set(spent.filter((done) => done.service === service).map((done) => done.accountId)).size;
    expect(
      [...seenByAdmin.body.byService].sort((a: { service: string }, b: { service: string }) => (a.service < b.service ? -1 : 1)),
    ).toEqual(
      [...byService]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, [quantity, credits]]) => ({ service: name, quantity, credits: formatCredits(credits), accounts: accountsOf(name) })),
    );
    const credits = seenByAdmin.body.byService.map((entry: { credits: string }) => millicredits(entry.credits));
    expect(credits).toEqual([...credits].sort((a, b) => b - a));

    const byAccount = sumBy(spent, (done) => done.accountId, (done) => [0, done.chargedMillicredits]);
    expect(seenByAdmin.body.topAccounts).toEqual(
      [...byAccount]
        .sort(([a, [, x]], [b, [, y]]) => y - x || (a < b ? -1 : 1))
        .slice(0, 10)
        .map(([accountId, [, used]]) => ({ accountId, credits: formatCredits(used) })),
    );
    expect(seenByAdmin.body.topAccounts[0]?.accountId).toBe('pager');
  });

  it('reports each projection in /health, with no lag once caught up', async () => {
    const head = await headPosition(ledger.sql);
    let health: { projectionLag: Record<string, { events: number; ms: number; position: number | null }> } | undefined;
    await eventually(
      'every projection to catch up',
      async () => {
        health = (await http().get('/health').expect(200)).body;
        return Object.values(health?.projectionLag ?? {}).every((lag) => lag.events === 0);
      },
      10_000,
      25,
    );
    expect(health).toMatchObject({ status: 'ok', eventStore: 'ok', readModel: 'ok' });
    expect(Object.keys(health?.projectionLag ?? {}).sort()).toEqual([...PROJECTION_NAMES].sort());
    for (const name of PROJECTION_NAMES) expect({ name, ...health?.projectionLag[name] }).toEqual({ name, events: 0, ms: 0, position: head });
  });
});

describe.each(storageTargets())('read-your-writes with a short wait on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;

  beforeAll(async () => {
    storage = await makeStorage();
    ledger = await startLedger(storage, { READ_YOUR_WRITES_TIMEOUT_MS: '200' });
  });

  afterAll(async () => {
    await ledger?.stop();
    await storage?.dispose();
  });

  it('answers 503 unavailable when minPosition is beyond the log, after the bounded wait', async () => {
    const [admin, reader] = await Promise.all([tokenFor('ops-admin', 'admin'), tokenFor('far-reader')]);
    const granted = await request(ledger.baseUrl)
      .post('/api/admin/accounts/far-reader/grants')
      .set('Authorization', `Bearer ${admin}`)
      .send({ credits: '10', reason: 'read-side test' })
      .expect(201);
    const reachable = await request(ledger.baseUrl).get(`/api/credits/balance?minPosition=${granted.body.position}`).set('Authorization', `Bearer ${reader}`);
    expect({ status: reachable.status, balance: reachable.body.balance }).toEqual({ status: 200, balance: '10.000' });

    const far = granted.body.position + 1_000_000_000;
    for (const [path, token] of [
      [`/api/credits/balance?minPosition=${far}`, reader],
      [`/api/credits/transactions?minPosition=${far}`, reader],
      [`/api/credits/usage?minPosition=${far}`, reader],
      [`/api/admin/analytics/usage?minPosition=${far}`, admin],
    ] as const) {
      const started = Date.now();
      const answer = await request(ledger.baseUrl).get(path).set('Authorization', `Bearer ${token}`);
      const elapsedMs = Date.now() - started;
      expect({ path, status: answer.status, error: answer.body.error }).toEqual({ path, status: 503, error: 'unavailable' });
      expect(elapsedMs).toBeGreaterThanOrEqual(190);
      expect(elapsedMs).toBeLessThan(3000);
    }
  });
});
