import { Body, Controller, Get, Headers, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { CatalogService } from '../../application/catalog/catalog.service';
import { CLOCK, type Clock } from '../../application/clock.port';
import { GetBalanceQuery } from '../../application/get-balance/get-balance.query';
import { UseCreditsCommand } from '../../application/use-credits/use-credits.command';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { resolveAccount } from './account-access';
import { validationFailed } from './api-error';
import { answer } from './command-answer';
import { commandIdentity } from './idempotency';
import { balanceResponse, packagesResponse, pricingResponse, useCreditsResponse } from './responses';
import { accountIdSchema, metadataSchema, parseOrThrow, quantitySchema } from './validation';

const useCreditsBody = z.strictObject({
  service: z.string().min(1).max(64),
  quantity: quantitySchema,
  accountId: accountIdSchema.optional(),
  metadata: metadataSchema.optional(),
});

/** Every GET accepts minPosition (read-your-writes); the write model is always current. */
const minPosition = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional();
const balanceQuery = z.strictObject({ accountId: accountIdSchema.optional(), minPosition });
const catalogQuery = z.strictObject({ minPosition });

@Controller('api/credits')
export class CreditsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post('use')
  @HttpCode(200)
  async use(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const input = parseOrThrow(useCreditsBody, body, 'body');
    const accountId = resolveAccount(principal, input.accountId, 'spend');
    if (this.catalog.findRate(input.service, this.clock.now().toISOString()) === undefined) {
      throw validationFailed([{ field: 'body.service', problem: `unknown service ${JSON.stringify(input.service)}; see GET /api/credits/pricing` }]);
    }
    const identity = commandIdentity(idempotencyKey, 'use', accountId, input);
    const outcome = await this.commands.execute(
      new UseCreditsCommand({ ...identity, service: input.service, quantity: input.quantity, metadata: input.metadata ?? {} }),
    );
    return answer(reply, outcome, identity, useCreditsResponse);
  }

  @Get('balance')
  async balance(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(balanceQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    return balanceResponse(await this.queries.execute(new GetBalanceQuery(accountId)));
  }

  @Get('pricing')
  pricing(@Query() query: unknown) {
    parseOrThrow(catalogQuery, query, 'query');
    return pricingResponse(this.catalog.rateCardAt(this.clock.now().toISOString()));
  }

  @Get('packages')
  packages(@Query() query: unknown) {
    parseOrThrow(catalogQuery, query, 'query');
    return packagesResponse(this.catalog.packages());
  }
}
