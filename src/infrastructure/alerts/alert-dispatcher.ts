import { createHmac } from 'node:crypto';
import type { AlertPayload } from '../../projections/alert-outbox.projection';
import { runWhileLeased } from '../postgres/leased-loop';
import type { SqlClient } from '../postgres/sql-client';

const DISPATCHER_LOCK_KEY = 4_817_301_159;
const BATCH = 50;
const REQUEST_TIMEOUT_MS = 5000;

export interface AlertDispatcherOptions {
  readonly url: string;
  readonly secret: string;
  readonly intervalMs: number;
  /** First retry delay; it doubles with each failed attempt, up to maxRetryMs. */
  readonly retryBaseMs: number;
  readonly maxRetryMs: number;
  readonly onError?: (error: unknown) => void;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`: Stripe's scheme, as API.md asks. */
export const alertSignature = (secret: string, body: string, unixSeconds: number): string =>
  `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;

/**
 * Delivers low-balance alerts to ALERT_WEBHOOK_URL, at least once: an alert stays due
 * until the receiver answers 2xx, retried with exponential backoff; the delivery state
 * is in Postgres, so a restart carries on where it stopped. One process at a time.
 */
export class AlertDispatcher {
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly sql: SqlClient,
    private readonly options: AlertDispatcherOptions,
  ) {}

  static async prepare(sql: SqlClient): Promise<void> {
    await sql.query(`CREATE TABLE IF NOT EXISTS alert_deliveries (
      alert_id text PRIMARY KEY,
      attempts integer NOT NULL,
      next_attempt_at timestamptz NOT NULL,
      delivered_at timestamptz,
      last_error text
    )`);
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  /** One pass over the alerts due now; returns how many were attempted. */
  async runOnce(now = new Date()): Promise<number> {
    const due = await this.sql.query<{ alert_id: string; payload: AlertPayload; attempts: number | null }>(
      `SELECT o.alert_id, o.payload, d.attempts
         FROM alert_outbox o LEFT JOIN alert_deliveries d ON d.alert_id = o.alert_id
        WHERE d.delivered_at IS NULL AND coalesce(d.next_attempt_at, o.occurred_at) <= $1
        ORDER BY o.position LIMIT $2`,
      [now.toISOString(), BATCH],
    );
    for (const alert of due) await this.deliver(alert.alert_id, alert.payload, alert.attempts ?? 0, now);
    return due.length;
  }

  private async deliver(alertId: string, payload: AlertPayload, attempts: number, now: Date): Promise<void> {
    const body = JSON.stringify(payload);
    let failure: string | null = null;
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ledger-signature': alertSignature(this.options.secret, body, Math.floor(Date.now() / 1000)),
          'ledger-event-id': alertId,
        },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (!response.ok) failure = `HTTP ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    const retryMs = Math.min(this.options.maxRetryMs, this.options.retryBaseMs * 2 ** attempts);
    await this.sql.query(
      `INSERT INTO alert_deliveries (alert_id, attempts, next_attempt_at, delivered_at, last_error)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (alert_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
         delivered_at = excluded.delivered_at, last_error = excluded.last_error`,
      [alertId, attempts + 1, new Date(now.getTime() + retryMs).toISOString(), failure === null ? now.toISOString() : null, failure],
    );
  }

  private loop(): Promise<void> {
    return runWhileLeased(this.sql, DISPATCHER_LOCK_KEY, this.options.intervalMs, this.stopping.signal, () => this.runOnce(), (error) =>
      this.options.onError?.(error),
    );
  }
}
