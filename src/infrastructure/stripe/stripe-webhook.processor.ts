import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type Stripe from 'stripe';
import type { CommandOutcome } from '../../application/accounts/account-command-executor';
import { RecordPurchaseCommand } from '../../application/record-purchase/record-purchase.command';
import { RefundPurchaseCommand } from '../../application/refund-purchase/refund-purchase.command';
import { ACCOUNT_ID_PATTERN } from '../auth/principal';
import { ApiError } from '../http/api-error';
import { fingerprint } from '../http/idempotency';
import { LedgerRejection } from '../http/ledger-rejection';
import { PAYMENTS_GATEWAY, type PaymentsGateway } from './payments.port';
import { WEBHOOK_OBSERVER, type WebhookObserver, type WebhookOutcome } from '../observability/webhook-observer.port';

/** One delivery as it is handled: what it turned out to be, and how to log about it. */
interface Delivery {
  type: string;
  outcome: WebhookOutcome;
  readonly log: (level: 'warn' | 'error', msg: string) => void;
}

const idOf = (value: string | { readonly id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id;

/**
 * One webhook delivery: verified on its raw body, then turned into at most one ledger
 * command. Every command is keyed by the Stripe object it reports (the session, the
 * charge's running refund total), so repeats and any order of arrival have one effect.
 */
@Injectable()
export class StripeWebhookProcessor {
  private readonly logger = new Logger('stripe-webhook');

  constructor(
    @Inject(PAYMENTS_GATEWAY) private readonly gateway: PaymentsGateway,
    private readonly commands: CommandBus,
    @Optional() @Inject(WEBHOOK_OBSERVER) private readonly observer?: WebhookObserver,
  ) {}

  /** `requestId` names the delivery's request in what is logged about it. */
  async handle(rawBody: Buffer | undefined, signature: string | undefined, requestId?: string): Promise<void> {
    const delivery: Delivery = {
      type: 'unverified',
      outcome: 'processed',
      log: (level, msg) => this.logger[level]({ msg, ...(requestId === undefined ? {} : { requestId }) }),
    };
    try {
      await this.process(rawBody, signature, delivery);
      this.observer?.webhookHandled(delivery.type, delivery.outcome);
    } catch (error) {
      this.observer?.webhookHandled(delivery.type, failureOutcome(error));
      throw error;
    }
  }

  private async process(rawBody: Buffer | undefined, signature: string | undefined, delivery: Delivery): Promise<void> {
    if (rawBody === undefined || signature === undefined || signature === '') {
      throw new ApiError('validation_failed', 'a Stripe-Signature header and a JSON body are required', {
        fields: [{ field: 'header.Stripe-Signature', problem: 'is required' }],
      });
    }
    const event = this.verified(rawBody, signature);
    delivery.type = event.type;
    switch (event.type) {
      case 'checkout.session.completed':
        if (event.data.object.payment_status === 'paid') await this.recordPurchase(event.data.object, delivery);
        else delivery.outcome = 'ignored';
        return;
      case 'checkout.session.async_payment_succeeded':
        await this.recordPurchase(event.data.object, delivery);
        return;
      case 'charge.refunded':
        await this.refund(event.data.object, delivery);
        return;
      default:
        delivery.outcome = 'ignored';
        return;
    }
  }

  private verified(rawBody: Buffer, signature: string): Stripe.Event {
    try {
      return this.gateway.verify(rawBody, signature);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError('validation_failed', 'the Stripe signature does not match this body, secret and time', {
        fields: [{ field: 'header.Stripe-Signature', problem: error instanceof Error ? error.message : 'invalid' }],
      });
    }
  }

  private async recordPurchase(session: Stripe.Checkout.Session, delivery: Delivery): Promise<void> {
    const accountId = session.client_reference_id ?? session.metadata?.['accountId'] ?? '';
    if (!ACCOUNT_ID_PATTERN.test(accountId)) {
      delivery.log('warn', `checkout session ${session.id} names no account of this ledger; ignored`);
      return;
    }
    this.settle(
      delivery,
      await this.commands.execute(
        new RecordPurchaseCommand({
          accountId,
          commandId: `stripe-session:${session.id}`,
          requestHash: fingerprint({ stripeSession: session.id }),
          packageId: session.metadata?.['packageId'] ?? '',
          paidCents: session.amount_total ?? 0,
          paidCurrency: session.currency ?? '',
          paymentReference: session.id,
          paymentIntentId: idOf(session.payment_intent),
        }),
      ),
    );
  }

  private async refund(charge: Stripe.Charge, delivery: Delivery): Promise<void> {
    const paymentIntentId = idOf(charge.payment_intent);
    if (paymentIntentId === null) return;
    const accountId = charge.metadata['accountId'] ?? (await this.gateway.accountOfPaymentIntent(paymentIntentId));
    if (accountId === undefined || !ACCOUNT_ID_PATTERN.test(accountId)) {
      delivery.log('warn', `refunded charge ${charge.id} belongs to no account of this ledger; ignored`);
      return;
    }
    this.settle(
      delivery,
      await this.commands.execute(
        new RefundPurchaseCommand({
          accountId,
          commandId: `stripe-refund:${charge.id}:${charge.amount_refunded}`,
          requestHash: fingerprint({ stripeCharge: charge.id, refunded: charge.amount_refunded }),
          paymentIntentId,
          refundedCentsTotal: charge.amount_refunded,
        }),
      ),
    );
  }

  /** A refusal that a later delivery can cure (refund before its purchase) fails the delivery so Stripe retries. */
  private settle(delivery: Delivery, outcome: CommandOutcome): void {
    if (outcome.status !== 'rejected') return;
    if (outcome.error.code === 'purchase_not_found') throw new LedgerRejection(outcome.error);
    delivery.log('error', `webhook command refused: ${JSON.stringify(outcome.error)}`);
  }
}

/** 400 for a bad delivery, 503 for one Stripe should deliver again, anything else a failure. */
const failureOutcome = (error: unknown): WebhookOutcome => {
  if (error instanceof LedgerRejection) return 'retry';
  if (error instanceof ApiError) return error.code === 'validation_failed' ? 'invalid' : error.code === 'unavailable' ? 'retry' : 'failed';
  return 'failed';
};
