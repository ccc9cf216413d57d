import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import request from 'supertest';
import { FixedWindowRateLimiter } from '../../src/infrastructure/http/rate-limit';
import { countEvents, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

/** The limiter's window is the wall-clock minute: start a counting test early in one. */
const awayFromMinuteEdge = async (): Promise<void> => {
  const intoMinuteMs = Date.now() % 60_000;
  if (intoMinuteMs > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinuteMs + 100));
};

describe('fixed-window rate limiter', () => {
  it('lets perMinute requests of a client through per window, then answers how long to wait', () => {
    let now = 120_000 + 15_000;
    const limiter = new FixedWindowRateLimiter(3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([null, null, null]);
    expect(limiter.take('a')).toBe(45);
    expect(limiter.take('b')).toBeNull();
    now = 180_000 - 1;
    expect(limiter.take('a')).toBe(1);
    now = 180_000;
    expect(limiter.take('a')).toBeNull();
  });
});

describe.each(storageTargets())('hardening on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;

  beforeAll(async () => {
    storage = await makeStorage();
  });

  afterAll(async () => {
    await storage.dispose();
  });

  describe('rate limit, headers, UTF-8', () => {
    let ledger: RunningLedger;
    const LIMIT = 5;

    beforeAll(async () => {
      ledger = await startLedger(storage, { RATE_LIMIT_PER_MINUTE: String(LIMIT) });
    });

    afterAll(async () => {
      await ledger.stop();
    });

    it('answers 429 rate_limited with Retry-After past the limit, per token subject; /health is exempt', async () => {
      await awayFromMinuteEdge();
      const alice = await tokenFor('rl-alice');
      const bob = await tokenFor('rl-bob');
      const pricing = (token: string) => request(ledger.baseUrl).get('/api/credits/pricing').set('Authorization', `Bearer ${token}`);
      for (let i = 0; i < LIMIT; i += 1) await pricing(alice).expect(200);
      const limited = await pricing(alice).expect(429);
      expect(limited.body).toEqual({ error: 'rate_limited', message: expect.any(String), retryAfterSeconds: expect.any(Number) });
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      await pricing(bob).expect(200);
      for (let i = 0; i < LIMIT * 2; i += 1) await request(ledger.baseUrl).get('/health').expect(200);
    });

    it('puts unverifiable tokens in the caller’s IP bucket, whatever sub they claim', async () => {
      await awayFromMinuteEdge();
      // Forged tokens (another key) with a fresh sub each: they all count against 127.0.0.1.
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 2; i += 1) {
        const forged = await tokenFor(`forged-${i}-${Date.now()}`, 'admin', { secret: 'another-secret-that-is-long-enough-0123456789' });
        statuses.push((await request(ledger.baseUrl).get('/api/credits/pricing').set('Authorization', `Bearer ${forged}`)).status);
      }
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(LIMIT);
      expect(statuses.at(-1)).toBe(429);
    });

    it('sends security headers, with a same-origin Content-Security-Policy', async () => {
      const answer = await request(ledger.baseUrl).get('/health').expect(200);
      const csp = String(answer.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(answer.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(answer.headers['x-powered-by']).toBeUndefined();
    });

    it('refuses a JSON body that is not UTF-8 with 400, appending nothing', async () => {
      const admin = await tokenFor('ops-utf8', 'admin');
      const before = await countEvents(ledger.sql);
      const body = Buffer.concat([Buffer.from('{"credits":"5","reason":"bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
      const answer = await request(ledger.baseUrl)
        .post('/api/admin/accounts/utf8-victim/grants')
        .set('Authorization', `Bearer ${admin}`)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('validation_failed');
      expect(await countEvents(ledger.sql)).toBe(before);
    });
  });

  describe('values Postgres cannot hold', () => {
    let ledger: RunningLedger;

    beforeAll(async () => {
      ledger = await startLedger(storage);
    });

    afterAll(async () => {
      await ledger.stop();
    });

    it('answers 400, not 500, for a day that does not exist in Postgres (year 0)', async () => {
      const auditor = await tokenFor('range-auditor', 'auditor');
      for (const path of ['/api/admin/analytics/usage?from=0000-01-01&to=0000-01-02', '/api/credits/usage?accountId=someone&from=0000-01-01']) {
        const answer = await request(ledger.baseUrl).get(path).set('Authorization', `Bearer ${auditor}`);
        expect(answer.status).toBe(400);
        expect(answer.body.error).toBe('validation_failed');
      }
    });
  });

  describe('timeouts', () => {
    let ledger: RunningLedger;
    const REQUEST_TIMEOUT_MS = 500;

    beforeAll(async () => {
      ledger = await startLedger(storage, {
        REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        READ_YOUR_WRITES_TIMEOUT_MS: '10000',
        SSE_HEARTBEAT_MS: '200',
      });
    });

    afterAll(async () => {
      await ledger.stop();
    });

    it('answers 503 unavailable when a handler outlives the request deadline, instead of hanging', async () => {
      const token = await tokenFor('slow-reader');
      const started = Date.now();
      // A read-your-writes wait for a position nobody wrote outlives the 500 ms deadline.
      const answer = await request(ledger.baseUrl).get('/api/credits/balance?minPosition=900000000').set('Authorization', `Bearer ${token}`);
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe('unavailable');
      expect(Date.now() - started).toBeLessThan(8000);
    });

    it('keeps the live balance stream open far past the idle and request timeouts', async () => {
      const token = await tokenFor('streamer');
      const { status, heartbeats, closedEarly, close } = await new Promise<{
        status: number;
        heartbeats: () => number;
        closedEarly: () => boolean;
        close: () => void;
      }>((resolve, reject) => {
        let count = 0;
        let ended = false;
        const req = httpRequest(`${ledger.baseUrl}/api/credits/balance/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            count += chunk.split(': heartbeat').length - 1;
          });
          res.on('close', () => {
            ended = true;
          });
          resolve({ status: res.statusCode ?? 0, heartbeats: () => count, closedEarly: () => ended, close: () => req.destroy() });
        });
        req.on('error', (error) => ((error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error)));
        req.end();
      });
      // connectionTimeout is max(2 × 500, 3 × 200) = 1000 ms here: stay three times that.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(status).toBe(200);
      expect(closedEarly()).toBe(false);
      expect(heartbeats()).toBeGreaterThanOrEqual(5);
      close();
    });

    it('drops a connection that sends nothing', async () => {
      const url = new URL(ledger.baseUrl);
      const started = Date.now();
      const closedAfterMs = await new Promise<number>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname);
        socket.on('error', reject);
        socket.on('close', () => resolve(Date.now() - started));
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
        setTimeout(() => reject(new Error('idle connection still open after 20 s')), 20_000).unref();
      });
      expect(closedAfterMs).toBeLessThan(20_000);
    });
  });
});
