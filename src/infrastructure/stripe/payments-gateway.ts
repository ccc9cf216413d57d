import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type Stripe from 'stripe';
import type { PaymentsConfig } from '../config/app-config';
import { ApiError } from '../http/api-error';
import {
  checkoutMetadata,
  WEBHOOK_TOLERANCE_SECONDS,
  type CheckoutRequest,
  type CheckoutSession,
  type PaymentsGateway,
} from './payments.port';
import { stripeClient, StripeGateway } from './stripe-gateway';

/** What the simulated checkout page needs, carried in its signed URL so it survives restarts. */
export interface SimulatedSession {
  readonly sessionId: string;
  readonly paymentIntentId: string;
  readonly accountId: string;
  readonly packageId: string;
  readonly amountCents: number;
  readonly currency: string;
  readonly successUrl: string;
  readonly cancelUrl: string;
}

/**
 * Development without Stripe keys: checkout answers with a local page; paying there builds
 * the `checkout.session.completed` event Stripe would send, signs it with the SDK's own
 * test-header helper, and feeds it to the same webhook code path.
 */
export class SimulatedGateway implements PaymentsGateway {
  private readonly stripe: Stripe;

  constructor(
    private readonly webhookSecret: string,
    private readonly publicBaseUrl: string,
  ) {
    // Only the SDK's webhook helpers are used: no request ever leaves with this key.
    this.stripe = stripeClient('sk_test_simulated', undefined);
  }

  async createCheckoutSession({ accountId, pkg, successUrl, cancelUrl }: CheckoutRequest): Promise<CheckoutSession> {
    const session: SimulatedSession = {
      sessionId: `cs_sim_${randomUUID().replaceAll('-', '')}`,
      paymentIntentId: `pi_sim_${randomUUID().replaceAll('-', '')}`,
      accountId,
      packageId: pkg.id,
      amountCents: pkg.priceCents,
      currency: pkg.currency,
      successUrl,
      cancelUrl,
    };
    return { sessionId: session.sessionId, checkoutUrl: `${this.publicBaseUrl}/checkout/simulated?session=${this.seal(session)}` };
  }

  verify(rawBody: Buffer, signature: string): Stripe.Event {
    return this.stripe.webhooks.constructEvent(rawBody, signature, this.webhookSecret, WEBHOOK_TOLERANCE_SECONDS);
  }

  async accountOfPaymentIntent(): Promise<string | undefined> {
    return undefined;
  }

  /** The session a page token stands for, if this installation signed it. */
  open(token: string): SimulatedSession | undefined {
    const [body, mac, ...rest] = token.split('.');
    if (body === undefined || mac === undefined || rest.length > 0) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    return JSON.parse(Buffer.from(body, 'base64url').toString()) as SimulatedSession;
  }

  /** The signed webhook delivery Stripe would make once the session is paid. */
  completedEvent(session: SimulatedSession, now: Date): { payload: string; signature: string } {
    const payload = JSON.stringify({
      id: `evt_sim_${randomUUID().replaceAll('-', '')}`,
      object: 'event',
      type: 'checkout.session.completed',
      created: Math.floor(now.getTime() / 1000),
      livemode: false,
      data: {
        object: {
          id: session.sessionId,
          object: 'checkout.session',
          mode: 'payment',
          status: 'complete',
          payment_status: 'paid',
          amount_total: session.amountCents,
          currency: session.currency,
          client_reference_id: session.accountId,
          metadata: checkoutMetadata(session.accountId, session.packageId),
          payment_intent: session.paymentIntentId,
        },
      },
    });
    return { payload, signature: this.stripe.webhooks.generateTestHeaderString({ payload, secret: this.webhookSecret }) };
  }

  private seal(session: SimulatedSession): string {
    const body = Buffer.from(JSON.stringify(session)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.webhookSecret).update(body).digest('base64url');
  }
}

/** Production without keys: payments are not configured, safe to retry once they are. */
export class DisabledGateway implements PaymentsGateway {
  private static unavailable(): never {
    throw new ApiError('unavailable', 'payments are not configured (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET)');
  }

  createCheckoutSession(): Promise<CheckoutSession> {
    return DisabledGateway.unavailable();
  }

  verify(): Stripe.Event {
    return DisabledGateway.unavailable();
  }

  accountOfPaymentIntent(): Promise<string | undefined> {
    return DisabledGateway.unavailable();
  }
}

export const paymentsGateway = (payments: PaymentsConfig, publicBaseUrl: string): PaymentsGateway => {
  switch (payments.mode) {
    case 'stripe':
      return StripeGateway.fromConfig(payments);
    case 'simulated':
      return new SimulatedGateway(payments.webhookSecret, publicBaseUrl);
    case 'disabled':
      return new DisabledGateway();
  }
};
