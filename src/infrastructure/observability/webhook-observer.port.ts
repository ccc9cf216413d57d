/** How a Stripe delivery ended: `invalid` is a 400 (bad or missing signature), `retry` a 503 Stripe delivers again. */
export type WebhookOutcome = 'processed' | 'ignored' | 'invalid' | 'retry' | 'failed';

/** Learns how each Stripe webhook delivery ended (metrics); must not throw. */
export interface WebhookObserver {
  webhookHandled(eventType: string, outcome: WebhookOutcome): void;
}

export const WEBHOOK_OBSERVER = Symbol('WebhookObserver');
