import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';

/**
 * The built service (`node dist/main.js`) as a real process on a real port, with every
 * byte it prints kept, so a suite can kill it (SIGKILL), start it again and finally grep
 * what it logged for secrets.
 */
const MAIN = join(__dirname, '..', '..', '..', 'dist', 'main.js');

/** Secrets of this run: random, so a grep for them can only find what the service printed. */
export const RELIABILITY_JWT_SECRET = `reliability-${randomBytes(24).toString('hex')}`;
export const RELIABILITY_WEBHOOK_SECRET = `whsec_reliability_${randomBytes(16).toString('hex')}`;
export const RELIABILITY_STRIPE_KEY = `sk_test_reliability_${randomBytes(8).toString('hex')}`;

const mintedTokens = new Set<string>();

/** A token signed with this run's secret (or `secret`), remembered for the log grep. */
export const mint = async (
  subject: string,
  role: string | undefined = 'user',
  options: { secret?: string; expiresIn?: string | number; claims?: Record<string, unknown> } = {},
): Promise<string> => {
  // Signed here rather than with test/support's tokenFor: that module loads the whole HTTP app.
  const token = await new SignJWT({ ...(role === undefined ? {} : { role }), ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? RELIABILITY_JWT_SECRET));
  mintedTokens.add(token);
  return token;
};

/** Remembers a token made some other way (forged, alg none…) for the log grep. */
export const remember = (token: string): string => {
  mintedTokens.add(token);
  return token;
};

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const output: string[] = [];

/** Everything every service process of this suite printed, stdout and stderr. */
export const serviceOutput = (): string => output.join('');

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  starts = 0;
  /** Exits nobody asked for (a crash): every suite expects none. */
  unexpectedExits = 0;
  private stopping = false;

  private constructor(
    readonly port: number,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  static async create(env: Readonly<Record<string, string>>): Promise<ServiceProcess> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm run test:reliability does)`);
    return new ServiceProcess(await freePort(), env);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Spawns the service and waits until it answers HTTP (any status: the database may be down on purpose). */
  async start(options: { healthy?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.child !== undefined) throw new Error('already running');
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env['PATH'] ?? '',
        HOST: '127.0.0.1',
        PORT: String(this.port),
        AUTH_JWT_SECRET: RELIABILITY_JWT_SECRET,
        STRIPE_SECRET_KEY: RELIABILITY_STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET: RELIABILITY_WEBHOOK_SECRET,
        // Nothing listens here unless a suite points it at its fake Stripe.
        STRIPE_API_BASE_URL: 'http://127.0.0.1:9',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'debug',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.starts += 1;
    const tag = `[start ${this.starts} pid ${child.pid}] `;
    output.push(`${tag}spawned\n`);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        output.push(`${tag}exited code=${code} signal=${signal}\n`);
        if (!this.stopping) this.unexpectedExits += 1;
        this.stopping = false;
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    this.child = child;
    await this.waitUntilAnswering(options.healthy ?? true, options.timeoutMs ?? 60_000);
  }

  /** SIGKILL: no shutdown hook runs, in-flight requests are cut. */
  async kill(): Promise<void> {
    if (this.child === undefined) return;
    this.stopping = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, and SIGKILL if it has not exited within 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.stopping = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  private async waitUntilAnswering(healthy: boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child === undefined) throw new Error(`the service exited during start-up:\n${serviceOutput().slice(-4000)}`);
      try {
        const answer = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(5000) });
        await answer.arrayBuffer();
        if (!healthy || answer.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the service did not answer within ${timeoutMs} ms:\n${serviceOutput().slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * What must never appear in the service's output: the tokens used, the signing secrets
 * and any Authorization header value. Returns the ones found (none, for a pass).
 */
export const secretsInOutput = (text: string = serviceOutput(), extra: readonly string[] = []): string[] => {
  // A token's signature alone would leak as much as the token.
  const signatures = [...mintedTokens].map((token) => token.split('.')[2] ?? '').filter((part) => part.length >= 16);
  const needles = [...mintedTokens, ...signatures, RELIABILITY_JWT_SECRET, RELIABILITY_WEBHOOK_SECRET, RELIABILITY_STRIPE_KEY, 'Bearer ', ...extra];
  return needles.filter((needle) => needle.length > 0 && text.includes(needle)).map((needle) => (needle.length > 40 ? `${needle.slice(0, 20)}…` : needle));
};

export const mintedTokenCount = (): number => mintedTokens.size;

/** Writes everything the service printed to a file in the temp folder (for a person reading a failure); returns its path. */
export const saveOutput = (suite: string): string => {
  const path = join(tmpdir(), `ledger-reliability-${suite}.log`);
  writeFileSync(path, serviceOutput());
  return path;
};
