import { Body, Controller, Headers, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { RawBodyRequest } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
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

const redirectUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);

const checkoutBody = z.strictObject({
  packageId: z.string().min(1).max(64),
  successUrl: redirectUrl.optional(),
  cancelUrl: redirectUrl.optional(),
  accountId: accountIdSchema.optional(),
});

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
  @HttpCode(200)
  async webhook(@Req() request: RawBodyRequest<FastifyRequest>, @Headers('stripe-signature') signature: string | undefined) {
    await this.webhooks.handle(request.rawBody, signature);
    return { received: true };
  }
}
