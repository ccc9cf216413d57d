import { Body, Controller, Headers, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { RawBodyRequest } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CatalogService } from '../../application/catalog/catalog.service';
import { CurrentPrincipal, PublicRoute } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { APP_CONFIG } from '../tokens';
import type { AppConfig } from '../config/app-config';
import { PAYMENTS_GATEWAY, type PaymentsGateway } from '../stripe/payments.port';
import { StripeWebhookProcessor } from '../stripe/stripe-webhook.processor';
import { resolveAccount } from './account-access';
import { ApiError } from './api-error';
import { accountIdSchema, idempotencyKeySchema, parseOrThrow } from './validation';
import { ApiAnswers, ApiIdempotent, ApiPublic, ApiZodBody, WRITE_ERRORS } from '../observability/openapi';
import { checkoutAnswer } from '../observability/response-schemas';

const redirectUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);

const checkoutBody = z.strictObject({
  packageId: z.string().min(1).max(64),
  successUrl: redirectUrl.optional(),
  cancelUrl: redirectUrl.optional(),
  accountId: accountIdSchema.optional(),
});

@ApiTags('payments')
@Controller('api/credits')
export class PaymentsController {
  constructor(
    private readonly catalog: CatalogService,
    private readonly webhooks: StripeWebhookProcessor,
    @Inject(PAYMENTS_GATEWAY) private readonly payments: PaymentsGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A Stripe Checkout Session for a package; no credits move until Stripe reports the payment. */
  @Post('checkout')
  @ApiOperation({ summary: 'Create a Stripe Checkout Session for a package; credits move only when Stripe reports the payment' })
  @ApiZodBody(checkoutBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 200, description: 'Send the buyer to checkoutUrl', schema: checkoutAnswer }, ...WRITE_ERRORS, 'not_found')
  @HttpCode(200)
  async checkout(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
  ) {
    const input = parseOrThrow(checkoutBody, body, 'body');
    const accountId = resolveAccount(principal, input.accountId, 'spend');
    const key = idempotencyKey === undefined ? undefined : parseOrThrow(idempotencyKeySchema, idempotencyKey, 'header.Idempotency-Key');
    const pkg = this.catalog.findPackage(input.packageId);
    if (pkg === undefined) throw new ApiError('not_found', `no package ${JSON.stringify(input.packageId)}; see GET /api/credits/packages`);
    return this.payments.createCheckoutSession({
      accountId,
      pkg,
      successUrl: input.successUrl ?? this.config.checkoutSuccessUrl,
      cancelUrl: input.cancelUrl ?? this.config.checkoutCancelUrl,
      idempotencyKey: key,
    });
  }

  /** Stripe's deliveries, authenticated by their signature over the raw body. */
  @Post('webhook')
  @PublicRoute()
  @ApiPublic()
  @ApiOperation({ summary: "Stripe's webhook: authenticated by the Stripe-Signature over the raw body, not by a token" })
  @ApiBody({ description: 'The Stripe event, exactly as Stripe sent it (the signature is over these bytes)', schema: { type: 'object' } })
  @ApiHeader({ name: 'Stripe-Signature', required: true, description: 't=<unix seconds>,v1=<HMAC-SHA256>; 300 s tolerance' })
  @ApiAnswers({ status: 200, description: '{ received: true } (unknown event types too, ignored)' }, 'validation_failed', 'payload_too_large', 'rate_limited', 'unavailable')
  @HttpCode(200)
  async webhook(@Req() request: RawBodyRequest<FastifyRequest>, @Headers('stripe-signature') signature: string | undefined) {
    await this.webhooks.handle(request.rawBody, signature, request.id);
    return { received: true };
  }
}
