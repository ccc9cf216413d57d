import type Stripe from 'stripe';
import type { CreditPackage } from '../../domain/credit-package';

/** Stripe's own tolerance for webhook timestamps, as API.md asks. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export interface CheckoutRequest {
  readonly accountId: string;
  readonly pkg: CreditPackage;
  readonly successUrl: string;
  readonly cancelUrl: string;
  readonly idempotencyKey: string | undefined;
}

export interface CheckoutSession {
  readonly sessionId: string;
  readonly checkoutUrl: string;
}

/** Checkout and webhook verification, whichever way payments are configured. */
export interface PaymentsGateway {
  createCheckoutSession(request: CheckoutRequest): Promise<CheckoutSession>;
  /** The event, if the signature over the raw body is valid and recent; throws otherwise. */
  verify(rawBody: Buffer, signature: string): Stripe.Event;
  /** The account a PaymentIntent was paid for, from the metadata checkout put on it. */
  accountOfPaymentIntent(paymentIntentId: string): Promise<string | undefined>;
}

export const PAYMENTS_GATEWAY = Symbol('PaymentsGateway');

/** The metadata every session and its PaymentIntent carry, so any later event finds its account and package. */
export const checkoutMetadata = (accountId: string, packageId: string) => ({ accountId, packageId });
