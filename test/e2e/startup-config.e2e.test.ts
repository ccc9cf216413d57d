import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, TEST_JWT_SECRET, tokenFor } from '../support/ledger-app';

const ROOT = join(__dirname, '../..');
const EXIT_CONFIG = 78;
const QUICK_MS = 10_000;
/** Opening embedded PGlite on a busy 2-core machine (other suites running) can take a while. */
const START_MS = 60_000;

interface Exit {
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
  readonly elapsedMs: number;
}

/** The built service with exactly these variables (and PATH), waited for until it exits. */
const run = (env: Record<string, string>): Promise<Exit> =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 2 * QUICK_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout, elapsedMs: Date.now() - started });
    });
  });

describe('start-up configuration check of the built service', () => {
  let dataDir: string;

  beforeAll(() => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  }, 150_000);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-startup-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each([
    ['PORT', 'abc', /^configuration error: PORT="abc": expected an integer from 0 to 65535$/],
    ['LOG_LEVEL', 'loud', /^configuration error: LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent$/],
    ['RATE_LIMIT_PER_MINUTE', '-1', /^configuration error: RATE_LIMIT_PER_MINUTE="-1": expected an integer from 0 to \d+$/],
  ])('one bad %s=%s: exits 78 at once with exactly one stderr line naming it', async (name, value, line) => {
    const exit = await run({ LEDGER_DATA_DIR: dataDir, [name]: value });
    expect(exit.code).toBe(EXIT_CONFIG);
    expect(exit.elapsedMs).toBeLessThan(QUICK_MS);
    const lines = exit.stderr.split('\n').filter((text) => text !== '');
    expect(lines).toEqual([expect.stringMatching(line)]);
    expect(exit.stdout).toBe('');
  }, 3 * QUICK_MS);

  it('with a good configuration logs JSON lines only to stdout, without the secret or the token', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', LEDGER_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_JWT_SECRET },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening after ${START_MS} ms: ${stdout}${stderr}`)), START_MS);
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('credit ledger listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const token = await tokenFor('startup-alice');
      const answer = await fetch(`http://127.0.0.1:${port}/api/credits/balance`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'startup-check-1' } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-request-id')).toBe('startup-check-1');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const lines = stdout.split('\n').filter((text) => text !== '').map((text) => JSON.parse(text) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'info', context: 'main', msg: expect.stringContaining(`listening on http://127.0.0.1:${port}`) }));
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'request completed', requestId: 'startup-check-1', statusCode: 200 }));
      expect(stdout).not.toContain(token);
      expect(stdout).not.toContain(TEST_JWT_SECRET);
      expect(stdout).not.toMatch(/bearer/i);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, START_MS + 30_000);
});
