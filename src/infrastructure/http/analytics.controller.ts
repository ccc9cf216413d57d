import { Controller, Get, Inject, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CLOCK, type Clock } from '../../application/clock.port';
import { GetUsageAnalyticsQuery } from '../../application/get-usage-analytics/get-usage-analytics.query';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { requireAccess } from './account-access';
import { usageAnalyticsResponse } from './responses';
import { usageRange } from './usage-range';
import { daySchema, minPositionSchema, parseOrThrow } from './validation';
import { ApiAnswers, ApiZodQuery, READ_ERRORS } from '../observability/openapi';
import { usageAnalyticsAnswer } from '../observability/response-schemas';

const TOP_ACCOUNTS = 10;

const analyticsQuery = z.strictObject({
  from: daySchema.optional(),
  to: daySchema.optional(),
  minPosition: minPositionSchema,
});

/** Org-wide usage: admins and auditors only. */
@ApiTags('admin')
@Controller('api/admin/analytics')
export class AnalyticsController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get('usage')
  @ApiOperation({ summary: 'Org-wide usage totals by service and the top consuming accounts (admin, auditor)' })
  @ApiZodQuery(analyticsQuery)
  @ApiAnswers({ status: 200, description: 'Totals by service (with the number of accounts) and the top 10 accounts', schema: usageAnalyticsAnswer }, ...READ_ERRORS)
  async usage(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    requireAccess(principal, 'analytics');
    const input = parseOrThrow(analyticsQuery, query, 'query');
    const range = usageRange(input.from, input.to, this.clock.now());
    return usageAnalyticsResponse(range, await this.queries.execute(new GetUsageAnalyticsQuery(range, TOP_ACCOUNTS, input.minPosition)));
  }
}
