import { Body, Controller, Get, Headers, HttpCode, Inject, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
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
import { ApiAnswers, ApiIdempotent, ApiZodBody, ApiZodQuery, READ_ERRORS, WRITE_ERRORS } from '../observability/openapi';
import { balanceAnswer, packagesAnswer, pricingAnswer, thresholdAnswer, transactionsAnswer, usageAnswer, useCreditsAnswer } from '../observability/response-schemas';

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

@ApiTags('credits')
@Controller('api/credits')
export class CreditsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post('use')
  @ApiOperation({ summary: 'Spend credits for a quantity of a service, priced by the rate card in force' })
  @ApiZodBody(useCreditsBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 200, description: 'The spend and the balance after it', schema: useCreditsAnswer }, ...WRITE_ERRORS, 'insufficient_credits')
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
      new UseCreditsCommand({ service: input.service, quantity: input.quantity, metadata: input.metadata ?? {}, ...identity }),
    );
    return answer(reply, outcome, identity, useCreditsResponse);
  }

  @Put('alerts')
  @ApiOperation({ summary: "Set the account's low-balance threshold" })
  @ApiZodBody(alertsBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 200, description: 'The threshold now in force', schema: thresholdAnswer }, ...WRITE_ERRORS)
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
      new SetLowBalanceThresholdCommand({ thresholdMillicredits: input.lowBalanceThreshold, ...identity }),
    );
    return answer(reply, outcome, identity, thresholdResponse);
  }

  @Get('balance')
  @ApiOperation({ summary: 'The balance from the balances read model (a never-seen account has all zeros)' })
  @ApiZodQuery(balanceQuery)
  @ApiAnswers(
    { status: 200, description: 'The balance, as of the read model position', schema: balanceAnswer },
    ...READ_ERRORS,
  )
  async balance(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(balanceQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    return balanceResponse(await this.queries.execute(new GetBalanceQuery(accountId, input.minPosition)));
  }

  @Get('transactions')
  @ApiOperation({ summary: 'The history, newest first, a page at a time' })
  @ApiZodQuery(transactionsQuery)
  @ApiAnswers({ status: 200, description: 'A page of the history; nextCursor is null on the last', schema: transactionsAnswer }, ...READ_ERRORS)
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
  @ApiOperation({ summary: 'Usage totals by service or by UTC day (default: the last 30 days)' })
  @ApiZodQuery(usageQuery)
  @ApiAnswers({ status: 200, description: 'Totals per service or per day (each item has `service` or `day`)', schema: usageAnswer }, ...READ_ERRORS)
  async usage(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(usageQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    const range = usageRange(input.from, input.to, this.clock.now());
    const totals = await this.queries.execute(new GetUsageQuery(accountId, range, input.groupBy, input.minPosition));
    return usageResponse(accountId, range, input.groupBy, totals);
  }

  @Get('pricing')
  @ApiOperation({ summary: 'The rate card in force' })
  @ApiZodQuery(catalogQuery)
  @ApiAnswers({ status: 200, description: 'The rate card: `per` units cost `credits`', schema: pricingAnswer }, ...READ_ERRORS)
  pricing(@Query() query: unknown) {
    parseOrThrow(catalogQuery, query, 'query');
    return pricingResponse(this.catalog.rateCardAt(this.clock.now().toISOString()));
  }

  @Get('packages')
  @ApiOperation({ summary: 'The credit packages for sale' })
  @ApiZodQuery(catalogQuery)
  @ApiAnswers({ status: 200, description: 'The packages', schema: packagesAnswer }, ...READ_ERRORS)
  packages(@Query() query: unknown) {
    parseOrThrow(catalogQuery, query, 'query');
    return packagesResponse(this.catalog.packages());
  }
}
