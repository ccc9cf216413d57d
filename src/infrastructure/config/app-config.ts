import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type AuthConfig =
  | { readonly kind: 'secret'; readonly secret: string; readonly development: boolean }
  | { readonly kind: 'jwks'; readonly url: string };

export type PaymentsConfig =
  /** Real Stripe: Checkout Sessions through the SDK, webhooks signed by Stripe. */
  | { readonly mode: 'stripe'; readonly secretKey: string; readonly webhookSecret: string; readonly apiBaseUrl: string | undefined }
  /** Development without keys: a local checkout page that sends signed events through the same webhook path. */
  | { readonly mode: 'simulated'; readonly webhookSecret: string }
  /** Production without keys: checkout and webhook answer 503. */
  | { readonly mode: 'disabled' };

export interface AppConfig {
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  /** Postgres for events and read models; undefined means embedded PGlite in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly eventStoreConnectionString: string | undefined;
  readonly auth: AuthConfig;
  readonly idempotencyRetentionHours: number;
  readonly bodyLimitBytes: number;
  readonly catalogDir: string | undefined;
  readonly readYourWritesTimeoutMs: number;
  /** Run the projections inside this process (default), or leave them to `npm run projections`. */
  readonly runProjections: boolean;
  /** With Postgres at DATABASE_URL, run the projections in a worker thread of their own. */
  readonly projectionsThread: boolean;
  readonly payments: PaymentsConfig;
  /** Where clients reach this service (links to the simulated checkout page). */
  readonly publicBaseUrl: string;
  readonly checkoutSuccessUrl: string;
  readonly checkoutCancelUrl: string;
  /** How often due reservations and grant lots are expired. */
  readonly expiryIntervalMs: number;
  readonly sseHeartbeatMs: number;
  /** Where low-balance alerts are POSTed, signed with the secret; undefined: no outbound alerts. */
  readonly alertWebhook: { readonly url: string; readonly secret: string; readonly retryBaseMs: number } | undefined;
  /** Requests per client (verified token subject, else IP) per minute; 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** Longest a request may take to arrive and be answered before it gets 503 (the SSE stream excepted). */
  readonly requestTimeoutMs: number;
  /** pino level of the JSON log lines on stdout. */
  readonly logLevel: LogLevel;
  /** LOG_LEVEL was set: tests that turn logging off still log when it is. */
  readonly logLevelExplicit: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every bad variable, one line each: the service refuses to start on any of them. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

const MIN_PRODUCTION_SECRET_LENGTH = 32;
const DEV_SECRET_FILE = 'dev-jwt-secret';

export const loadConfig = (env: NodeJS.ProcessEnv): AppConfig => {
  const problems: string[] = [];
  const production = env['NODE_ENV'] === 'production';
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`);
    return fallback;
  };
  const optional = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);

  const databaseUrl = optional('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: expected a postgres:// or postgresql:// connection string');
  }
  const eventStoreConnectionString = optional('EVENTSTORE_CONNECTION_STRING');
  if (eventStoreConnectionString !== undefined && !/^(esdb|esdb\+discover|kurrentdb):\/\//.test(eventStoreConnectionString)) {
    problems.push('EVENTSTORE_CONNECTION_STRING: expected an esdb:// connection string');
  }
  const dataDir = resolve(optional('LEDGER_DATA_DIR') ?? 'data');
  const port = integer('PORT', 3000, 0, 65535);
  const url = (name: string, fallback: string): string => {
    const raw = optional(name) ?? fallback;
    if (!/^https?:\/\/[^\s]+$/.test(raw)) problems.push(`${name}=${JSON.stringify(raw)}: expected an http(s) URL`);
    return raw.replace(/\/+$/, '');
  };
  const publicBaseUrl = url('PUBLIC_BASE_URL', `http://localhost:${port}`);
  const auth = authConfig(env, production, dataDir, problems);
  const config = {
    production,
    port,
    host: optional('HOST') ?? '0.0.0.0',
    databaseUrl,
    dataDir,
    eventStoreConnectionString,
    idempotencyRetentionHours: integer('IDEMPOTENCY_RETENTION_HOURS', 24, 1, 24 * 365),
    bodyLimitBytes: integer('BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    catalogDir: optional('CATALOG_DIR'),
    readYourWritesTimeoutMs: integer('READ_YOUR_WRITES_TIMEOUT_MS', 5000, 0, 60_000),
    runProjections: flag('RUN_PROJECTIONS', true),
    projectionsThread: flag('PROJECTIONS_THREAD', true),
    auth,
    payments: paymentsConfig(env, production, auth, problems),
    publicBaseUrl,
    checkoutSuccessUrl: url('CHECKOUT_SUCCESS_URL', `${publicBaseUrl}/checkout/success`),
    checkoutCancelUrl: url('CHECKOUT_CANCEL_URL', `${publicBaseUrl}/checkout/cancel`),
    expiryIntervalMs: integer('EXPIRY_INTERVAL_MS', 1000, 10, 60_000),
    sseHeartbeatMs: integer('SSE_HEARTBEAT_MS', 15_000, 100, 300_000),
    alertWebhook: alertWebhookConfig(env, problems, integer('ALERT_RETRY_BASE_MS', 1000, 10, 600_000)),
    rateLimitPerMinute: integer('RATE_LIMIT_PER_MINUTE', 6000, 0, 100_000_000),
    requestTimeoutMs: integer('REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    logLevel: logLevel(optional('LOG_LEVEL'), problems),
    logLevelExplicit: optional('LOG_LEVEL') !== undefined,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
};

const logLevel = (raw: string | undefined, problems: string[]): LogLevel => {
  if (raw === undefined) return 'info';
  const level = LOG_LEVELS.find((candidate) => candidate === raw);
  if (level === undefined) problems.push(`LOG_LEVEL=${JSON.stringify(raw)}: expected one of ${LOG_LEVELS.join(', ')}`);
  return level ?? 'info';
};

const authConfig = (env: NodeJS.ProcessEnv, production: boolean, dataDir: string, problems: string[]): AuthConfig => {
  const secret = env['AUTH_JWT_SECRET'] || undefined;
  const jwksUrl = env['AUTH_JWKS_URL'] || undefined;
  if (jwksUrl !== undefined) {
    if (!/^https?:\/\//.test(jwksUrl)) problems.push('AUTH_JWKS_URL: expected an http(s) URL of a JWKS document');
    return { kind: 'jwks', url: jwksUrl };
  }
  if (secret !== undefined) {
    if (production && secret.length < MIN_PRODUCTION_SECRET_LENGTH) {
      problems.push(`AUTH_JWT_SECRET: expected at least ${MIN_PRODUCTION_SECRET_LENGTH} characters in production`);
    }
    return { kind: 'secret', secret, development: false };
  }
  if (production) {
    problems.push('AUTH_JWT_SECRET: required in production (or set AUTH_JWKS_URL); the development secret is refused');
    return { kind: 'secret', secret: '', development: true };
  }
  return { kind: 'secret', secret: developmentSecret(dataDir), development: true };
};

/** A random secret made on first start and kept in the data folder, so dev tokens survive restarts. */
export const developmentSecret = (dataDir: string): string => {
  const file = join(dataDir, DEV_SECRET_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
};

const paymentsConfig = (env: NodeJS.ProcessEnv, production: boolean, auth: AuthConfig, problems: string[]): PaymentsConfig => {
  const secretKey = env['STRIPE_SECRET_KEY'] || undefined;
  const webhookSecret = env['STRIPE_WEBHOOK_SECRET'] || undefined;
  const apiBaseUrl = env['STRIPE_API_BASE_URL'] || undefined;
  if (apiBaseUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(apiBaseUrl)) {
    problems.push('STRIPE_API_BASE_URL: expected an http(s) URL such as http://localhost:12111');
  }
  if (secretKey !== undefined) {
    if (!/^(sk|rk)_(test|live)_/.test(secretKey)) problems.push('STRIPE_SECRET_KEY: expected a Stripe secret key (sk_test_… or sk_live_…)');
    if (webhookSecret === undefined) problems.push('STRIPE_WEBHOOK_SECRET: required with STRIPE_SECRET_KEY (whsec_…, from the webhook endpoint)');
    return { mode: 'stripe', secretKey, webhookSecret: webhookSecret ?? '', apiBaseUrl };
  }
  if (production) return { mode: 'disabled' };
  // The simulated checkout signs its events with a secret only this installation knows.
  const seed = auth.kind === 'secret' ? auth.secret : auth.url;
  return { mode: 'simulated', webhookSecret: webhookSecret ?? `whsec_dev_${createHmac('sha256', seed).update('simulated-stripe').digest('hex')}` };
};

const alertWebhookConfig = (env: NodeJS.ProcessEnv, problems: string[], retryBaseMs: number): AppConfig['alertWebhook'] => {
  const url = env['ALERT_WEBHOOK_URL'] || undefined;
  if (url === undefined) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(url)) problems.push('ALERT_WEBHOOK_URL: expected an http(s) URL');
  const secret = env['ALERT_WEBHOOK_SECRET'] || undefined;
  if (secret === undefined) problems.push('ALERT_WEBHOOK_SECRET: required with ALERT_WEBHOOK_URL (the key that signs each alert)');
  return { url, secret: secret ?? '', retryBaseMs };
};
