import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandObserver } from '../../application/accounts/command-observer.port';
import type { ProjectionLag } from '../../projections/projections-host';
import type { WebhookObserver, WebhookOutcome } from './webhook-observer.port';

/** Latencies from a millisecond to half a minute (a command waiting out its retries). */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];


/** Stripe event types the ledger acts on; any other is counted as `other`, so the label set stays bounded. */
const KNOWN_WEBHOOK_TYPES = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded', 'charge.refunded', 'unverified']);

/** Route label of a request no route matched: never the raw URL, which may carry ids. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The service's Prometheus metrics, in a registry of their own (one per application, so
 * several in one test process do not collide). Labels are bounded sets: route patterns,
 * command types, outcome and error codes — never account ids or raw URLs.
 */
export class LedgerMetrics implements CommandObserver, WebhookObserver {
  readonly registry = new Registry();

  private readonly requestSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  private readonly commands = new Counter({
    name: 'ledger_commands_total',
    help: 'Account commands by type and outcome (accepted, replayed, unchanged, rejected with its code, failed)',
    labelNames: ['type', 'outcome', 'code'] as const,
    registers: [this.registry],
  });

  readonly appendSeconds = new Histogram({
    name: 'ledger_event_store_append_duration_seconds',
    help: 'Event store append latency by operation and outcome (ok, conflict, error)',
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  private readonly webhooks = new Counter({
    name: 'ledger_stripe_webhooks_total',
    help: 'Stripe webhook deliveries by event type and outcome',
    labelNames: ['event_type', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly lagEvents = new Gauge({
    name: 'ledger_projection_lag_events',
    help: 'Events appended but not yet applied by each projection (counted up to 1000)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  private readonly lagSeconds = new Gauge({
    name: 'ledger_projection_lag_seconds',
    help: 'Age of the oldest event each projection has not applied yet; 0 when caught up',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(method: string, route: string | undefined, statusCode: number, elapsedMs: number): void {
    this.requestSeconds.observe({ method, route: route ?? UNMATCHED_ROUTE, status_code: String(statusCode) }, elapsedMs / 1000);
  }

  commandEnded(commandType: string, outcome: { readonly status: string; readonly error?: { readonly code: string } } | 'failed'): void {
    if (outcome === 'failed') {
      this.commands.inc({ type: commandType, outcome: 'failed', code: '' });
      return;
    }
    const status = outcome.status === 'applied' ? 'accepted' : outcome.status;
    this.commands.inc({ type: commandType, outcome: status, code: outcome.error?.code ?? '' });
  }

  webhookHandled(eventType: string, outcome: WebhookOutcome): void {
    this.webhooks.inc({ event_type: KNOWN_WEBHOOK_TYPES.has(eventType) ? eventType : 'other', outcome });
  }

  /** The exposition text; projection lag is read at scrape time (left out when it cannot be read). */
  async scrape(lag: () => Promise<Readonly<Record<string, ProjectionLag>>>): Promise<string> {
    this.lagEvents.reset();
    this.lagSeconds.reset();
    const lags = await lag().catch(() => ({}));
    for (const [projection, { events, ms }] of Object.entries(lags)) {
      this.lagEvents.set({ projection }, events);
      this.lagSeconds.set({ projection }, ms / 1000);
    }
    return this.registry.metrics();
  }
}
