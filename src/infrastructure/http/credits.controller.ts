import { Body, Controller, Get, Headers, HttpCode, Inject, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { CatalogService } from '../../application/catalog/catalog.service';
import { CLOCK, type Clock } from '../../application/clock.port';
import { GetBalanceQuery } from '../../application/get-balance/get-balance.query';
import { UseCreditsCommand } from '../../application/use-credits/use-credits.command';
import { SetLowBalanceThresholdCommand } from '../../application/alerts/set-low-balance-threshold';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { resolveAccount } from './account-access';
import { validationFailed } from './api-error';
import { answer } from './command-answer';
import { commandIdentity } from './idempotency';
import {
  balanceResponse,
  decodeCursor,
  packagesResponse,
  pricingResponse,
  thresholdResponse,
  transactionsResponse,
  usageResponse,
  useCreditsResponse,
} from './responses';
import { TRANSACTION_TYPES } from '../../projections/transactions.projection';
import { GetTransactionsQuery } from '../../application/get-transactions/get-transactions.query';
import { GetUsageQuery } from '../../application/get-usage/get-usage.query';
import { usageRange } from './usage-range';
import {
  accountIdSchema,
  creditsSchema,
  daySchema,
  textSchema,
  metadataSchema,
  minPositionSchema,
  parseOrThrow,
  quantitySchema,
} from './validation';

const useCreditsBody = z.strictObject({
  service: textSchema().min(1).max(64),
  quantity: quantitySchema,
  accountId: accountIdSchema.optional(),
  metadata: metadataSchema.optional(),
});

const alertsBody = z.strictObject({
  lowBalanceThreshold: creditsSchema('nonNegative'),
  accountId: accountIdSchema.optional(),
});
const balanceQuery = z.strictObject({ accountId: accountIdSchema.optional(), minPosition: minPositionSchema });
const catalogQuery = z.strictObject({ minPosition: minPositionSchema });
const transactionsQuery = z.strictObject({
  accountId: accountIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(100).optional(),
  type: z.enum(TRANSACTION_TYPES).optional(),
  minPosition: minPositionSchema,
});
const usageQuery = z.strictObject({
  accountId: accountIdSchema.optional(),
  from: daySchema.optional(),
  to: daySchema.optional(),
  groupBy: z.enum(['service', 'day']).default('service'),
  minPosition: minPositionSchema,
});

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
    const identity = commandIdentity(idempotencyKey, 'use', accountId, input);
    const outcome = await this.commands.execute(
      new UseCreditsCommand({ ...identity, service: input.service, quantity: input.quantity, metadata: input.metadata ?? {} }),
    );
    return answer(reply, outcome, identity, useCreditsResponse);
  }

  @Put('alerts')
  @HttpCode(200)
  async setAlerts(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const input = parseOrThrow(alertsBody, body, 'body');
    const accountId = resolveAccount(principal, input.accountId, 'spend');
    const identity = commandIdentity(idempotencyKey, 'alerts', accountId, input);
    const outcome = await this.commands.execute(
      new SetLowBalanceThresholdCommand({ ...identity, thresholdMillicredits: input.lowBalanceThreshold }),
    );
    return answer(reply, outcome, identity, thresholdResponse);
  }

  @Get('balance')
  async balance(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(balanceQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    return balanceResponse(await this.queries.execute(new GetBalanceQuery(accountId, input.minPosition)));
  }

  @Get('transactions')
  async transactions(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(transactionsQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    const beforeSequence = input.cursor === undefined ? null : decodeCursor(input.cursor);
    if (beforeSequence === null && input.cursor !== undefined) {
      throw validationFailed([{ field: 'query.cursor', problem: 'is not a cursor this API returned' }]);
    }
    const page = await this.queries.execute(
      new GetTransactionsQuery({ accountId, limit: input.limit, beforeSequence, type: input.type ?? null }, input.minPosition),
    );
    return transactionsResponse(page);
  }

  @Get('usage')
  async usage(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(usageQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    const range = usageRange(input.from, input.to, this.clock.now());
    const totals = await this.queries.execute(new GetUsageQuery(accountId, range, input.groupBy, input.minPosition));
    return usageResponse(accountId, range, input.groupBy, totals);
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
