import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { AppConfig, LogLevel } from '../config/app-config';

/** Shorter secrets are not scrubbed by value: replacing them would mangle ordinary words. */
const MIN_SCRUBBED_SECRET_LENGTH = 8;
const REDACTED = '[redacted]';
/** A JWT (three base64url parts, the header starting `eyJ`) or a bearer credential, wherever it appears in a line. */
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const BEARER_PATTERN = /bearer(\s|%20|\\[nrt])*[^\s"\\,;]*/gi;

/** Header fields never to be logged, should anything log headers. */
const REDACTED_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["stripe-signature"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'res.headers["set-cookie"]',
  'authorization',
  'cookie',
  'stripeSignature',
  'token',
  'secret',
];

/** The secrets of a configuration: scrubbed from every line by value, whatever logged them. */
export const secretsOf = (config: AppConfig): string[] =>
  [
    config.auth.kind === 'secret' ? config.auth.secret : undefined,
    config.payments.mode === 'stripe' ? config.payments.secretKey : undefined,
    config.payments.mode === 'disabled' ? undefined : config.payments.webhookSecret,
    config.alertWebhook?.secret,
  ].filter((secret): secret is string => secret !== undefined && secret.length >= MIN_SCRUBBED_SECRET_LENGTH);

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Removes credentials from one serialized line: known secrets, JWTs, bearer tokens. */
export const scrubber = (secrets: readonly string[]): ((line: string) => string) => {
  // A secret appears in a JSON line escaped as a JSON string would escape it.
  const forms = secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  const known = forms.length === 0 ? null : new RegExp([...new Set(forms)].map(escapeRegExp).join('|'), 'g');
  return (line) => {
    const withoutSecrets = known === null ? line : line.replace(known, REDACTED);
    return withoutSecrets.replace(JWT_PATTERN, REDACTED).replace(BEARER_PATTERN, REDACTED);
  };
};

export interface LoggerSettings {
  readonly level: LogLevel;
  readonly secrets: readonly string[];
  /** Where the JSON lines go; stdout when not given. */
  readonly destination?: DestinationStream;
}

/**
 * JSON lines via pino. A line about a request carries its `requestId` (its writer passes
 * it); credentials are redacted by field and scrubbed by value.
 */
export const createLogger = ({ level, secrets, destination }: LoggerSettings): Logger => {
  const scrub = scrubber(secrets);
  return pino(
    {
      level,
      base: { service: 'credit-ledger' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrub },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
};

type NestLevel = 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
const PINO_LEVEL: Readonly<Record<NestLevel, 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal'>> = {
  log: 'info',
  error: 'error',
  warn: 'warn',
  debug: 'debug',
  verbose: 'trace',
  fatal: 'fatal',
};

/** Nest's own lines (and every `new Logger(context)` of ours) as pino JSON lines. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('verbose', message, rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes `(message, context)`, and for errors `(message, stack, context)`. */
  private write(level: NestLevel, message: unknown, rest: readonly unknown[]): void {
    const strings = rest.filter((part): part is string => typeof part === 'string');
    const context = strings.length > 0 ? strings.at(-1) : undefined;
    const stack = level === 'error' && strings.length > 1 ? strings[0] : undefined;
    const fields = { ...(context === undefined ? {} : { context }), ...(stack === undefined ? {} : { stack }) };
    const method = PINO_LEVEL[level];
    if (message instanceof Error) this.logger[method]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.logger[method]({ ...fields, ...message });
    else this.logger[method](fields, String(message));
  }
}
