import { endpointPath, ENDPOINTS, type EndpointName } from './endpoints';
import { LedgerApiError, LedgerClientError, LedgerNetworkError } from './errors';
import { chargeMillicredits, formatMillicredits, parseMillicredits } from './money';
import { SseParser } from './sse';
import type {
  AlertSettings,
  Balance,
  CaptureResult,
  CheckoutSession,
  CreditPackage,
  Credits,
  LowBalanceAlert,
  OpenReservations,
  RateCard,
  ReleaseResult,
  Reservation,
  ServiceRate,
  Transaction,
  TransactionPage,
  TransactionType,
  UsageGrouping,
  UsageReport,
  UseCreditsResult,
} from './types';

type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
type TokenSource = string | (() => string | Promise<string>);

export interface RetryPolicy {
  /** Tries in all, the first included (default 4). */
  readonly attempts?: number;
  /** First wait; doubles each retry, with jitter (default 200 ms). */
  readonly baseDelayMs?: number;
  /** Longest single wait (default 5 s). */
  readonly maxDelayMs?: number;
}

/** What happened on one try of a request: for logs and metrics. */
export interface AttemptReport {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;
  readonly idempotencyKey: string | undefined;
  /** The HTTP status, or undefined when no answer arrived. */
  readonly status: number | undefined;
  readonly replayed: boolean;
  readonly error: unknown;
}

export interface LedgerClientOptions {
  /** Where the service is, e.g. "https://ledger.example.com" (no trailing /api). */
  readonly baseUrl: string;
  /** The bearer token, or a function returning a fresh one (called before every try). */
  readonly token: TokenSource;
  /** The account to act on, for service, admin and auditor tokens (a user token acts on its own). */
  readonly accountId?: string;
  readonly retry?: RetryPolicy;
  /** Bound on one try, from sending to the end of the answer (default 30 s); a timed-out try is retried. */
  readonly timeoutMs?: number;
  /** How long a fetched rate card is reused by `hasEnoughCredits` (default 60 s). */
  readonly pricingMaxAgeMs?: number;
  readonly fetch?: FetchLike;
  readonly onAttempt?: (report: AttemptReport) => void;
}

export interface WriteOptions {
  /** Defaults to a fresh random key per call, reused by that call's retries. */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
}

export interface AccountOptions {
  readonly accountId?: string;
}

export interface ReadOptions extends AccountOptions {
  /** Answer only once the read model has applied this log position (read-your-writes). */
  readonly minPosition?: number;
  readonly signal?: AbortSignal;
}

export interface TransactionQuery extends ReadOptions {
  readonly limit?: number;
  readonly cursor?: string;
  readonly type?: TransactionType;
}

export interface UsageQuery extends ReadOptions {
  readonly groupBy?: UsageGrouping;
  /** First UTC day, YYYY-MM-DD (default 30 days ago). */
  readonly from?: string;
  readonly to?: string;
}

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface BalanceStreamHandlers {
  readonly onBalance?: (balance: Balance) => void;
  readonly onLowBalance?: (alert: LowBalanceAlert) => void;
  /** A failed connection (the stream reconnects unless the error is 401/403/404). */
  readonly onError?: (error: LedgerApiError | LedgerNetworkError) => void;
  readonly onStatus?: (status: StreamStatus) => void;
}

export interface BalanceSubscription {
  close(): void;
  readonly closed: boolean;
  /** The id of the last message received: what a reconnect sends as Last-Event-ID. */
  readonly lastEventId: string;
}

interface Call {
  readonly endpoint: EndpointName;
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal | undefined;
}

const DEFAULT_RETRY: Required<RetryPolicy> = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5000 };
const MAX_RETRY_AFTER_MS = 60_000;
const STREAM_RETRY_DEFAULT_MS = 2000;
const STREAM_RETRY_MAX_MS = 30_000;
const PAGE_SIZE_MAX = 200;

/** A random RFC 4122 v4 id; `getRandomValues` also works outside secure browser contexts. */
export const newIdempotencyKey = (): string => {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

const parseJson = (text: string): unknown => {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const retryAfterMs = (response: Response): number | undefined => {
  const header = response.headers.get('retry-after');
  if (header === null || !/^\d+$/.test(header)) return undefined;
  return Math.min(Number(header) * 1000, MAX_RETRY_AFTER_MS);
};

/**
 * A typed client of the credit ledger's HTTP API. Writes carry an Idempotency-Key (one per
 * logical call, the same on each retry), so retrying after a dropped connection or a 503
 * can never charge twice.
 */
export class LedgerClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private readonly retry: Required<RetryPolicy>;
  private pricing: { card: RateCard; fetchedAt: number } | undefined;

  constructor(private readonly options: LedgerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Browsers require fetch to be called on the global object.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  getBalance(options: ReadOptions = {}): Promise<Balance> {
    return this.request({ endpoint: 'balance', query: this.readQuery(options), signal: options.signal });
  }

  /** Spends credits for `quantity` units of a rate-card service. 402 `insufficient_credits` if it does not fit. */
  use(
    service: string,
    quantity: number,
    options: WriteOptions & AccountOptions & { metadata?: Readonly<Record<string, string | number | boolean>> } = {},
  ): Promise<UseCreditsResult> {
    const body = { service, quantity, ...this.accountField(options), ...(options.metadata ? { metadata: options.metadata } : {}) };
    return this.write('use', body, options);
  }

  /** What `quantity` units of `service` cost under the rate card in force, computed exactly. */
  async estimate(service: string, quantity: number): Promise<{ millicredits: bigint; credits: Credits; rate: ServiceRate }> {
    const card = await this.rateCard();
    const rate = card.services.find((candidate) => candidate.service === service);
    if (rate === undefined) throw new LedgerClientError(`unknown service ${JSON.stringify(service)}; see GET /api/credits/pricing`);
    const millicredits = chargeMillicredits(rate, quantity);
    return { millicredits, credits: formatMillicredits(millicredits), rate };
  }

  /** Whether the account's `available` credits cover `quantity` units of `service` right now. */
  async hasEnoughCredits(service: string, quantity: number, options: AccountOptions = {}): Promise<boolean> {
    const [{ millicredits }, balance] = await Promise.all([this.estimate(service, quantity), this.getBalance(options)]);
    return millicredits <= parseMillicredits(balance.available);
  }

  reserve(service: string, quantity: number, options: WriteOptions & AccountOptions & { ttlSeconds?: number } = {}): Promise<Reservation> {
    const body = { service, quantity, ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }), ...this.accountField(options) };
    return this.write('reserve', body, options);
  }

  /** The account's open reservations, soonest-expiring first (read from the event log: a hold is listed as soon as it is answered). */
  listReservations(options: ReadOptions = {}): Promise<OpenReservations> {
    return this.request({ endpoint: 'reservations', query: this.readQuery(options), signal: options.signal });
  }

  capture(reservationId: string, quantity: number, options: WriteOptions = {}): Promise<CaptureResult> {
    return this.write('capture', { quantity }, options, { reservationId });
  }

  release(reservationId: string, options: WriteOptions = {}): Promise<ReleaseResult> {
    return this.write('release', {}, options, { reservationId });
  }

  /** A Checkout Session for a package: send the buyer to `checkoutUrl`. Credits arrive when the payment does. */
  checkout(packageId: string, options: WriteOptions & AccountOptions & { successUrl?: string; cancelUrl?: string } = {}): Promise<CheckoutSession> {
    const body = {
      packageId,
      ...(options.successUrl === undefined ? {} : { successUrl: options.successUrl }),
      ...(options.cancelUrl === undefined ? {} : { cancelUrl: options.cancelUrl }),
      ...this.accountField(options),
    };
    return this.write('checkout', body, options);
  }

  setLowBalanceThreshold(lowBalanceThreshold: Credits, options: WriteOptions & AccountOptions = {}): Promise<AlertSettings> {
    return this.write('alerts', { lowBalanceThreshold, ...this.accountField(options) }, options);
  }

  getPricing(options: { signal?: AbortSignal } = {}): Promise<RateCard> {
    return this.request<RateCard>({ endpoint: 'pricing', signal: options.signal }).then((card) => {
      this.pricing = { card, fetchedAt: Date.now() };
      return card;
    });
  }

  getPackages(options: { signal?: AbortSignal } = {}): Promise<readonly CreditPackage[]> {
    return this.request({ endpoint: 'packages', signal: options.signal });
  }

  getUsage(options: UsageQuery = {}): Promise<UsageReport> {
    const query = { ...this.readQuery(options), groupBy: options.groupBy, from: options.from, to: options.to };
    return this.request({ endpoint: 'usage', query, signal: options.signal });
  }

  /** One page of history, newest first. */
  getTransactions(options: TransactionQuery = {}): Promise<TransactionPage> {
    const query = { ...this.readQuery(options), limit: options.limit, cursor: options.cursor, type: options.type };
    return this.request({ endpoint: 'transactions', query, signal: options.signal });
  }

  /** Every transaction, newest first, fetching pages (of `pageSize`, default 200) as the loop asks for them. */
  async *transactions(options: Omit<TransactionQuery, 'cursor' | 'limit'> & { pageSize?: number } = {}): AsyncGenerator<Transaction, void, undefined> {
    const { pageSize = PAGE_SIZE_MAX, ...rest } = options;
    let cursor: string | undefined;
    do {
      const page = await this.getTransactions({ ...rest, limit: pageSize, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * The live balance (Server-Sent Events over fetch, so the token travels in the
   * Authorization header). The first message is the balance now; the stream reconnects
   * with Last-Event-ID after a drop, and stops on 401, 403 or 404.
   */
  subscribe(handlers: BalanceStreamHandlers, options: AccountOptions & { lastEventId?: string } = {}): BalanceSubscription {
    const controller = new AbortController();
    const state = { lastEventId: options.lastEventId ?? '', closed: false };
    const accountId = options.accountId ?? this.options.accountId;
    const url = this.url('balanceStream', {}, accountId === undefined ? {} : { accountId });
    const run = async () => {
      let retryMs = STREAM_RETRY_DEFAULT_MS;
      let failures = 0;
      handlers.onStatus?.('connecting');
      while (!controller.signal.aborted) {
        try {
          const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}`, accept: 'text/event-stream' };
          if (state.lastEventId !== '') headers['last-event-id'] = state.lastEventId;
          const response = await this.fetchImpl(url, { method: 'GET', headers, signal: controller.signal });
          if (!response.ok || response.body === null) {
            const error = LedgerApiError.fromResponse(response.status, parseJson(await response.text()));
            if ([401, 403, 404].includes(response.status)) {
              handlers.onError?.(error);
              break;
            }
            throw error;
          }
          handlers.onStatus?.('open');
          const parser = new SseParser(
            (message) => {
              failures = 0;
              state.lastEventId = message.lastEventId;
              if (message.event === 'balance') handlers.onBalance?.(JSON.parse(message.data) as Balance);
              if (message.event === 'low_balance') handlers.onLowBalance?.(JSON.parse(message.data) as LowBalanceAlert);
            },
            (ms) => (retryMs = ms),
          );
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parser.push(decoder.decode(value, { stream: true }));
          }
        } catch (error) {
          if (controller.signal.aborted) break;
          handlers.onError?.(error instanceof LedgerApiError ? error : new LedgerNetworkError('the balance stream dropped', error));
        }
        if (controller.signal.aborted) break;
        handlers.onStatus?.('reconnecting');
        await sleep(Math.min(retryMs * 2 ** Math.min(failures, 4), STREAM_RETRY_MAX_MS), controller.signal);
        failures += 1;
      }
      state.closed = true;
      handlers.onStatus?.('closed');
    };
    void run();
    return {
      close: () => {
        state.closed = true;
        controller.abort();
      },
      get closed() {
        return state.closed;
      },
      get lastEventId() {
        return state.lastEventId;
      },
    };
  }

  private async rateCard(): Promise<RateCard> {
    const maxAge = this.options.pricingMaxAgeMs ?? 60_000;
    if (this.pricing !== undefined && Date.now() - this.pricing.fetchedAt < maxAge) return this.pricing.card;
    return this.getPricing();
  }

  private accountField(options: AccountOptions): { accountId?: string } {
    const accountId = options.accountId ?? this.options.accountId;
    return accountId === undefined ? {} : { accountId };
  }

  private readQuery(options: ReadOptions): Record<string, string | number | undefined> {
    return { ...this.accountField(options), minPosition: options.minPosition };
  }

  private write<T>(endpoint: EndpointName, body: unknown, options: WriteOptions, params: Record<string, string> = {}): Promise<T> {
    return this.request({ endpoint, params, body, idempotencyKey: options.idempotencyKey ?? newIdempotencyKey(), signal: options.signal });
  }

  private url(endpoint: EndpointName, params: Readonly<Record<string, string>>, query: Readonly<Record<string, string | number | undefined>>): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
    const text = search.toString();
    return `${this.baseUrl}${endpointPath(endpoint, params)}${text === '' ? '' : `?${text}`}`;
  }

  private async token(): Promise<string> {
    return typeof this.options.token === 'string' ? this.options.token : this.options.token();
  }

  /** One logical call: tries until an answer that is not 503/429, or the attempts run out. */
  private async request<T>(call: Call): Promise<T> {
    const { method } = ENDPOINTS[call.endpoint];
    const url = this.url(call.endpoint, call.params ?? {}, call.query ?? {});
    const path = url.slice(this.baseUrl.length);
    for (let attempt = 1; ; attempt += 1) {
      if (call.signal?.aborted) throw call.signal.reason ?? new Error('aborted');
      const last = attempt >= this.retry.attempts;
      const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}`, accept: 'application/json' };
      if (call.body !== undefined) headers['content-type'] = 'application/json';
      if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), this.options.timeoutMs ?? 30_000);
      const abort = () => timeout.abort();
      call.signal?.addEventListener('abort', abort, { once: true });
      let response: Response;
      let text: string;
      try {
        response = await this.fetchImpl(url, {
          method,
          headers,
          signal: timeout.signal,
          ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        });
        text = await response.text();
      } catch (error) {
        this.report({ method, path, attempt, idempotencyKey: call.idempotencyKey, status: undefined, replayed: false, error });
        if (call.signal?.aborted) throw call.signal.reason ?? error;
        if (last) throw new LedgerNetworkError(`${method} ${path}: no answer after ${attempt} tries`, error);
        await sleep(this.backoff(attempt), call.signal);
        continue;
      } finally {
        clearTimeout(timer);
        call.signal?.removeEventListener('abort', abort);
      }
      const replayed = response.headers.get('idempotent-replayed') === 'true';
      const body = parseJson(text);
      if (response.ok) {
        this.report({ method, path, attempt, idempotencyKey: call.idempotencyKey, status: response.status, replayed, error: undefined });
        return body as T;
      }
      const error = LedgerApiError.fromResponse(response.status, body);
      this.report({ method, path, attempt, idempotencyKey: call.idempotencyKey, status: response.status, replayed, error });
      if (!error.retryable || last) throw error;
      await sleep(retryAfterMs(response) ?? this.backoff(attempt), call.signal);
    }
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private report(report: AttemptReport): void {
    this.options.onAttempt?.(report);
  }
}

export const createLedgerClient = (options: LedgerClientOptions): LedgerClient => new LedgerClient(options);
