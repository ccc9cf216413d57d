import type { TestDatabase } from '../support/databases';
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe';
import { call } from './support/http';
import { mint, saveOutput, secretsInOutput, serviceOutput, ServiceProcess } from './support/service-process';
import { freshSharedDatabase } from './support/shared-database';

/**
 * API.md's role table as one declared matrix: every endpoint × every role (and no token)
 * × the caller's own account and another one. Allowed → a 2xx (or the endpoint's own
 * non-auth answer), never 401/403; forbidden → 403; no token → 401 (public routes excepted).
 */
type Role = 'user' | 'service' | 'admin' | 'auditor';
type Caller = Role | 'none';
type Target = 'own' | 'other';
/** any: any account it names; own: only its own; never: 403. */
type Rule = 'any' | 'own' | 'never';

interface Endpoint {
  readonly name: string;
  /** `public`: no token needed, every caller allowed. */
  readonly access: 'public' | Readonly<Record<Role, Rule>>;
  /** Whether the request names an account (otherwise own and other are the same request). */
  readonly perAccount: boolean;
  /** The answer an allowed request gets; default any 2xx. */
  readonly allowedStatus?: (status: number) => boolean;
  /** Builds the request on `account`; may prepare state with the admin token first. */
  readonly request: (account: string, admin: string) => Promise<{ method: string; path: string; body?: unknown }>;
  /** Streams are probed for their status only. */
  readonly stream?: boolean;
}

const SPENDERS: Readonly<Record<Role, Rule>> = { user: 'own', service: 'any', admin: 'any', auditor: 'never' };
const READERS: Readonly<Record<Role, Rule>> = { user: 'own', service: 'any', admin: 'any', auditor: 'any' };
const ADMINS: Readonly<Record<Role, Rule>> = { user: 'never', service: 'never', admin: 'any', auditor: 'never' };
const ANALYSTS: Readonly<Record<Role, Rule>> = { user: 'never', service: 'never', admin: 'any', auditor: 'any' };
const EVERY_ROLE: Readonly<Record<Role, Rule>> = { user: 'any', service: 'any', admin: 'any', auditor: 'any' };

let sequence = 0;
const reservationOn = async (baseUrl: string, account: string, admin: string): Promise<string> => {
  const answer = await call(baseUrl, 'POST', '/api/credits/reservations', { token: admin, body: { service: 'sms', quantity: 1, accountId: account } });
  if (answer.status !== 201) throw new Error(`could not reserve on ${account}: ${answer.status} ${answer.text}`);
  return encodeURIComponent(answer.json.reservationId);
};

const matrix = (baseUrl: () => string): readonly Endpoint[] => [
  { name: 'POST /api/credits/use', access: SPENDERS, perAccount: true, request: async (a) => ({ method: 'POST', path: '/api/credits/use', body: { service: 'sms', quantity: 1, accountId: a } }) },
  { name: 'PUT /api/credits/alerts', access: SPENDERS, perAccount: true, request: async (a) => ({ method: 'PUT', path: '/api/credits/alerts', body: { lowBalanceThreshold: '5', accountId: a } }) },
  { name: 'GET /api/credits/balance', access: READERS, perAccount: true, request: async (a) => ({ method: 'GET', path: `/api/credits/balance?accountId=${a}` }) },
  { name: 'GET /api/credits/balance/stream', access: READERS, perAccount: true, stream: true, request: async (a) => ({ method: 'GET', path: `/api/credits/balance/stream?accountId=${a}` }) },
  { name: 'GET /api/credits/transactions', access: READERS, perAccount: true, request: async (a) => ({ method: 'GET', path: `/api/credits/transactions?accountId=${a}&limit=5` }) },
  { name: 'GET /api/credits/usage', access: READERS, perAccount: true, request: async (a) => ({ method: 'GET', path: `/api/credits/usage?accountId=${a}&groupBy=service` }) },
  { name: 'GET /api/credits/pricing', access: EVERY_ROLE, perAccount: false, request: async () => ({ method: 'GET', path: '/api/credits/pricing' }) },
  { name: 'GET /api/credits/packages', access: EVERY_ROLE, perAccount: false, request: async () => ({ method: 'GET', path: '/api/credits/packages' }) },
  { name: 'POST /api/credits/checkout', access: SPENDERS, perAccount: true, request: async (a) => ({ method: 'POST', path: '/api/credits/checkout', body: { packageId: 'starter', accountId: a } }) },
  { name: 'GET /api/credits/reservations', access: READERS, perAccount: true, request: async (a) => ({ method: 'GET', path: `/api/credits/reservations?accountId=${a}` }) },
  { name: 'POST /api/credits/reservations', access: SPENDERS, perAccount: true, request: async (a) => ({ method: 'POST', path: '/api/credits/reservations', body: { service: 'sms', quantity: 1, accountId: a } }) },
  {
    name: 'POST /api/credits/reservations/:id/capture',
    access: SPENDERS,
    perAccount: true,
    request: async (a, admin) => ({ method: 'POST', path: `/api/credits/reservations/${await reservationOn(baseUrl(), a, admin)}/capture`, body: { quantity: 1 } }),
  },
  {
    name: 'POST /api/credits/reservations/:id/release',
    access: SPENDERS,
    perAccount: true,
    request: async (a, admin) => ({ method: 'POST', path: `/api/credits/reservations/${await reservationOn(baseUrl(), a, admin)}/release` }),
  },
  {
    name: 'POST /api/admin/accounts/:accountId/grants',
    access: ADMINS,
    perAccount: true,
    request: async (a) => ({ method: 'POST', path: `/api/admin/accounts/${a}/grants`, body: { credits: '1', reason: 'matrix' } }),
  },
  {
    name: 'POST /api/admin/accounts/:accountId/adjustments',
    access: ADMINS,
    perAccount: true,
    request: async (a) => ({ method: 'POST', path: `/api/admin/accounts/${a}/adjustments`, body: { credits: '1', reason: `matrix ${(sequence += 1)}` } }),
  },
  { name: 'GET /api/admin/analytics/usage', access: ANALYSTS, perAccount: false, request: async () => ({ method: 'GET', path: '/api/admin/analytics/usage' }) },
  { name: 'GET /api/audit/accounts/:accountId/events', access: ANALYSTS, perAccount: true, request: async (a) => ({ method: 'GET', path: `/api/audit/accounts/${a}/events` }) },
  {
    name: 'GET /api/audit/accounts/:accountId/balance',
    access: ANALYSTS,
    perAccount: true,
    request: async (a) => ({ method: 'GET', path: `/api/audit/accounts/${a}/balance?asOf=${encodeURIComponent(new Date().toISOString())}` }),
  },
  { name: 'GET /health', access: 'public', perAccount: false, request: async () => ({ method: 'GET', path: '/health' }) },
  { name: 'GET /metrics', access: 'public', perAccount: false, request: async () => ({ method: 'GET', path: '/metrics' }) },
  { name: 'GET /docs', access: 'public', perAccount: false, request: async () => ({ method: 'GET', path: '/docs' }) },
  {
    name: 'POST /api/credits/webhook',
    access: 'public',
    perAccount: false,
    // Authenticated by its Stripe signature, not a token: an unsigned delivery is 400 for everyone.
    allowedStatus: (status) => status === 400,
    request: async () => ({ method: 'POST', path: '/api/credits/webhook', body: { type: 'checkout.session.completed' } }),
  },
];

const CALLERS: readonly Caller[] = ['user', 'service', 'admin', 'auditor', 'none'];
const TARGETS: readonly Target[] = ['own', 'other'];
const VICTIM = 'authz-victim';
const subjectOf = (caller: Caller): string => `authz-${caller}`;

const expectation = (endpoint: Endpoint, caller: Caller, target: Target): 'allowed' | 401 | 403 => {
  if (endpoint.access === 'public') return 'allowed';
  if (caller === 'none') return 401;
  const rule = endpoint.access[caller];
  if (rule === 'any' || (rule === 'own' && target === 'own')) return 'allowed';
  return 403;
};

describe('authorization matrix (API.md role table)', () => {
  let fake: FakeStripe;
  let database: TestDatabase & { url: string };
  let service: ServiceProcess;

  beforeAll(async () => {
    fake = await startFakeStripe();
    database = await freshSharedDatabase();
    service = await ServiceProcess.create({ DATABASE_URL: database.url, STRIPE_API_BASE_URL: fake.url });
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await fake?.close();
    saveOutput('authorization');
  });

  const probe = async (method: string, path: string, token: string | undefined, body: unknown, stream: boolean): Promise<{ status: number; text: string }> => {
    if (!stream) {
      const answer = await call(service.baseUrl, method, path, { ...(token === undefined ? {} : { token }), ...(body === undefined ? {} : { body }) });
      return { status: answer.status, text: answer.text.slice(0, 200) };
    }
    const abort = new AbortController();
    const response = await fetch(`${service.baseUrl}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: abort.signal });
    const status = response.status;
    abort.abort();
    return { status, text: '' };
  };

  it('allows exactly what the role table allows, on the own account and another one', async () => {
    const admin = await mint('authz-setup', 'admin');
    const tokens: Record<Role, string> = {
      user: await mint(subjectOf('user'), 'user'),
      service: await mint(subjectOf('service'), 'service'),
      admin: await mint(subjectOf('admin'), 'admin'),
      auditor: await mint(subjectOf('auditor'), 'auditor'),
    };
    for (const account of [VICTIM, ...CALLERS.map(subjectOf)]) {
      expect((await call(service.baseUrl, 'POST', `/api/admin/accounts/${account}/grants`, { token: admin, body: { credits: '1000', reason: 'matrix' } })).status).toBe(201);
    }
    const endpoints = matrix(() => service.baseUrl);
    const mismatches: string[] = [];
    let cases = 0;
    for (const endpoint of endpoints) {
      for (const caller of CALLERS) {
        for (const target of endpoint.perAccount ? TARGETS : (['own'] as const)) {
          const account = target === 'own' ? subjectOf(caller) : VICTIM;
          const { method, path, body } = await endpoint.request(account, admin);
          const token = caller === 'none' ? undefined : tokens[caller];
          const { status, text } = await probe(method, path, token, body, endpoint.stream === true);
          const expected = expectation(endpoint, caller, target);
          const allowedOk = endpoint.allowedStatus ?? ((s: number) => s >= 200 && s < 300);
          const ok = expected === 'allowed' ? allowedOk(status) && status !== 401 && status !== 403 : status === expected;
          cases += 1;
          if (!ok) mismatches.push(`${endpoint.name} as ${caller} on ${target}: expected ${expected}, got ${status} ${text}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(cases).toBeGreaterThan(150);
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
