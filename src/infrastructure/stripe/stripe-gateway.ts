import Stripe from 'stripe';
import type { PaymentsConfig } from '../config/app-config';
import {
  checkoutMetadata,
  WEBHOOK_TOLERANCE_SECONDS,
  type CheckoutRequest,
  type CheckoutSession,
  type PaymentsGateway,
} from './payments.port';

const NETWORK_RETRIES = 2;
const TIMEOUT_MS = 10_000;

/** The real Stripe SDK, pointed at STRIPE_API_BASE_URL when set (stripe-mock, a test server). */
export const stripeClient = (secretKey: string, apiBaseUrl: string | undefined): Stripe => {
  const base = apiBaseUrl === undefined ? undefined : new URL(apiBaseUrl);
  return new Stripe(secretKey, {
    maxNetworkRetries: NETWORK_RETRIES,
    timeout: TIMEOUT_MS,
    ...(base === undefined
      ? {}
      : {
          host: base.hostname,
          protocol: base.protocol === 'http:' ? 'http' : 'https',
          port: Number(base.port || (base.protocol === 'http:' ? 80 : 443)),
        }),
  });
};

export class StripeGateway implements PaymentsGateway {
  constructor(
    private readonly stripe: Stripe,
    private readonly webhookSecret: string,
  ) {}

  static fromConfig(payments: Extract<PaymentsConfig, { mode: 'stripe' }>): StripeGateway {
    return new StripeGateway(stripeClient(payments.secretKey, payments.apiBaseUrl), payments.webhookSecret);
  }

  async createCheckoutSession({ accountId, pkg, successUrl, cancelUrl, idempotencyKey }: CheckoutRequest): Promise<CheckoutSession> {
    const metadata = checkoutMetadata(accountId, pkg.id);
    const session = await this.stripe.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [
          {
            quantity: 1,
            price_data: { currency: pkg.currency, unit_amount: pkg.priceCents, product_data: { name: `${pkg.name} credits` } },
          },
        ],
        client_reference_id: accountId,
        metadata,
        payment_intent_data: { metadata },
        success_url: successUrl,
        cancel_url: cancelUrl,
      },
      idempotencyKey === undefined ? {} : { idempotencyKey: `checkout:${accountId}:${idempotencyKey}` },
    );
    if (session.url === null) throw new Error(`Stripe returned checkout session ${session.id} without a url`);
    return { sessionId: session.id, checkoutUrl: session.url };
  }

  verify(rawBody: Buffer, signature: string): Stripe.Event {
    return this.stripe.webhooks.constructEvent(rawBody, signature, this.webhookSecret, WEBHOOK_TOLERANCE_SECONDS);
  }

  async accountOfPaymentIntent(paymentIntentId: string): Promise<string | undefined> {
    const intent = await this.stripe.paymentIntents.retrieve(paymentIntentId);
    return intent.metadata['accountId'];
  }
}
