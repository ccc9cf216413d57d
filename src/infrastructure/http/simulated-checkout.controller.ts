import { Controller, Get, Header, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAnswers, ApiPublic } from '../observability/openapi';
import { CLOCK, type Clock } from '../../application/clock.port';
import { formatCents, formatCredits } from '../../domain/money';
import { CatalogService } from '../../application/catalog/catalog.service';
import { PublicRoute } from '../auth/auth.guard';
import { SimulatedGateway } from '../stripe/payments-gateway';
import { PAYMENTS_GATEWAY, type PaymentsGateway } from '../stripe/payments.port';
import { StripeWebhookProcessor } from '../stripe/stripe-webhook.processor';
import { ApiError } from './api-error';

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.6rem 1.2rem}</style>
</head><body>${body}</body></html>`;

/**
 * The development stand-in for Stripe Checkout (no keys configured). Paying sends the
 * signed `checkout.session.completed` event through the same webhook processor that
 * Stripe's deliveries go through; nothing about the purchase is special-cased.
 */
@ApiTags('simulated checkout (development only)')
@ApiPublic()
@Controller('checkout')
export class SimulatedCheckoutController {
  constructor(
    @Inject(PAYMENTS_GATEWAY) private readonly payments: PaymentsGateway,
    private readonly webhooks: StripeWebhookProcessor,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get('simulated')
  @ApiOperation({ summary: 'The simulated checkout page (no Stripe keys, development only)' })
  @ApiAnswers({ status: 200, description: 'HTML', contentType: 'text/html' }, 'not_found')
  @PublicRoute()
  @Header('content-type', 'text/html; charset=utf-8')
  show(@Query('session') token: string | undefined) {
    const session = this.session(token);
    const pkg = this.catalog.findPackage(session.packageId);
    const price = `${formatCents(session.amountCents)} ${session.currency.toUpperCase()}`;
    return page(
      'Simulated checkout',
      `<h1>Simulated checkout</h1>
<p>Development mode: no Stripe keys are configured, so no money moves.</p>
<p><strong>${escapeHtml(pkg?.name ?? session.packageId)}</strong>${pkg ? ` — ${formatCredits(pkg.creditsMillicredits)} credits` : ''} for account <code>${escapeHtml(session.accountId)}</code></p>
<form method="post"><button type="submit">Pay ${escapeHtml(price)}</button></form>
<p><a href="${escapeHtml(session.cancelUrl)}">Cancel</a></p>`,
    );
  }

  @Post('simulated')
  @ApiOperation({ summary: 'Pay the simulated session: sends the signed checkout.session.completed through the webhook processor' })
  @ApiAnswers({ status: 303, description: 'Redirect to the success URL' }, 'not_found')
  @PublicRoute()
  @HttpCode(303)
  async pay(@Query('session') token: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const session = this.session(token);
    const gateway = this.payments as SimulatedGateway;
    const { payload, signature } = gateway.completedEvent(session, this.clock.now());
    await this.webhooks.handle(Buffer.from(payload), signature, reply.request.id);
    void reply.header('location', session.successUrl);
    return { sessionId: session.sessionId, paid: true };
  }

  @Get('success')
  @ApiAnswers({ status: 200, description: 'HTML', contentType: 'text/html' })
  @PublicRoute()
  @Header('content-type', 'text/html; charset=utf-8')
  success() {
    return page('Payment complete', '<h1>Payment complete</h1><p>Your credits will appear in your balance in a moment.</p>');
  }

  @Get('cancel')
  @ApiAnswers({ status: 200, description: 'HTML', contentType: 'text/html' })
  @PublicRoute()
  @Header('content-type', 'text/html; charset=utf-8')
  cancel() {
    return page('Payment cancelled', '<h1>Payment cancelled</h1><p>No payment was made.</p>');
  }

  private session(token: string | undefined) {
    const session = this.payments instanceof SimulatedGateway && token !== undefined ? this.payments.open(token) : undefined;
    if (session === undefined) throw new ApiError('not_found', 'no such simulated checkout session');
    return session;
  }
}
