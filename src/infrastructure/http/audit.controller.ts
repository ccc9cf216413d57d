import { Readable } from 'node:stream';
import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { positionNumber } from '../../application/accounts/account-event-codec';
import { GetAccountEventsQuery } from '../../application/audit/get-account-events';
import { GetBalanceAsOfQuery, type BalanceAsOf } from '../../application/audit/get-balance-as-of';
import { LEDGER_SETTINGS, type LedgerSettings } from '../../application/ledger-settings';
import { PROJECTION_PROGRESS, type ProjectionProgress } from '../../application/read-models.port';
import { awaitPosition } from '../../application/read-your-writes';
import { availableMillicredits, liveBalanceMillicredits } from '../../domain/account.state';
import { formatCredits } from '../../domain/money';
import { EXPORT_CONTENT_TYPES, EXPORT_FORMATS, exportTransactions } from '../audit/transactions-export';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { ApiAnswers, ApiZodQuery, READ_ERRORS } from '../observability/openapi';
import type { SqlClient } from '../postgres/sql-client';
import { SQL_CLIENT } from '../tokens';
import { requireAccess } from './account-access';
import { accountIdSchema, instantSchema, minPositionSchema, parseOrThrow } from './validation';

const MAX_EVENTS_PAGE = 1000;
const DEFAULT_EVENTS_PAGE = 100;

const eventsQuery = z.strictObject({
  fromPosition: z.string().regex(/^\d{1,15}$/, 'must be a non-negative integer stream position').transform(Number).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_EVENTS_PAGE}`)
    .transform(Number)
    .refine((limit) => limit >= 1 && limit <= MAX_EVENTS_PAGE, `must be an integer from 1 to ${MAX_EVENTS_PAGE}`)
    .optional(),
  minPosition: minPositionSchema,
});

const balanceQuery = z.strictObject({ asOf: instantSchema, minPosition: minPositionSchema });

const exportQuery = z.strictObject({
  accountId: accountIdSchema.optional(),
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  format: z.enum(EXPORT_FORMATS).default('csv'),
  minPosition: minPositionSchema,
});

/**
 * The auditor's view: the log as stored and balances replayed from it. Auditors (and
 * admins) read every account here and can write nothing anywhere. The event log is the
 * source itself, so `minPosition` is always already met on the two log routes.
 */
@ApiTags('audit')
@Controller('api/audit')
export class AuditController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(SQL_CLIENT) private readonly sql: SqlClient,
    @Inject(PROJECTION_PROGRESS) private readonly progress: ProjectionProgress,
    @Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings,
  ) {}

  @Get('accounts/:accountId/events')
  @ApiOperation({ summary: "The account's raw event stream as stored, with each event's hash-chain metadata (auditor, admin)" })
  @ApiZodQuery(eventsQuery)
  @ApiAnswers({ status: 200, description: '[{ eventId, type, data, metadata, streamPosition, position, recordedAt }], oldest first' }, ...READ_ERRORS)
  async events(@CurrentPrincipal() principal: Principal, @Param('accountId') accountIdParam: string, @Query() query: unknown) {
    requireAccess(principal, 'audit');
    const accountId = parseOrThrow(accountIdSchema, accountIdParam, 'path.accountId');
    const input = parseOrThrow(eventsQuery, query, 'query');
    const events = await this.queries.execute(new GetAccountEventsQuery(accountId, input.fromPosition ?? 0, input.limit ?? DEFAULT_EVENTS_PAGE));
    return events.map((event) => ({
      eventId: event.eventId,
      type: event.type,
      data: event.data,
      metadata: event.metadata,
      streamPosition: event.streamRevision,
      position: positionNumber(event.position),
      recordedAt: event.recordedAt.toISOString(),
    }));
  }

  @Get('accounts/:accountId/balance')
  @ApiOperation({ summary: 'The balance as it was at `asOf`, replayed from the event log (auditor, admin)' })
  @ApiZodQuery(balanceQuery)
  @ApiAnswers({ status: 200, description: 'The balance at that instant and the last event recorded by then' }, ...READ_ERRORS)
  async balanceAsOf(@CurrentPrincipal() principal: Principal, @Param('accountId') accountIdParam: string, @Query() query: unknown) {
    requireAccess(principal, 'audit');
    const accountId = parseOrThrow(accountIdSchema, accountIdParam, 'path.accountId');
    const input = parseOrThrow(balanceQuery, query, 'query');
    return balanceAsOfResponse(await this.queries.execute(new GetBalanceAsOfQuery(accountId, new Date(input.asOf))));
  }

  @Get('transactions/export')
  @ApiOperation({ summary: 'Transaction history of one account (or all) as streamed CSV or JSON Lines (auditor, admin)' })
  @ApiZodQuery(exportQuery)
  @ApiAnswers({ status: 200, description: 'CSV (UTF-8 with BOM, CRLF) or JSON Lines, streamed', contentType: 'text/csv' }, ...READ_ERRORS)
  async export(@CurrentPrincipal() principal: Principal, @Query() query: unknown, @Res() reply: FastifyReply) {
    requireAccess(principal, 'audit');
    const input = parseOrThrow(exportQuery, query, 'query');
    await awaitPosition(this.progress, ['transactions'], input.minPosition, this.settings.readYourWritesTimeoutMs);
    const lines = exportTransactions(this.sql, {
      accountId: input.accountId,
      from: input.from === undefined ? undefined : new Date(input.from),
      to: input.to === undefined ? undefined : new Date(input.to),
      format: input.format,
    });
    const name = `transactions${input.accountId === undefined ? '' : `-${input.accountId.replace(/[^A-Za-z0-9._-]/g, '_')}`}.${input.format}`;
    // Readable.from pulls a page only when the socket has taken the one before.
    return reply
      .header('content-type', EXPORT_CONTENT_TYPES[input.format])
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(Readable.from(lines));
  }
}

const balanceAsOfResponse = ({ accountId, asOf, state, position, streamPosition, eventsApplied }: BalanceAsOf) => {
  const balance = liveBalanceMillicredits(state, asOf);
  return {
    accountId,
    asOf,
    balance: formatCredits(balance),
    available: formatCredits(availableMillicredits({ ...state, balanceMillicredits: balance })),
    reserved: formatCredits(state.reservedMillicredits),
    totalPurchased: formatCredits(state.totalPurchasedMillicredits),
    totalGranted: formatCredits(state.totalGrantedMillicredits),
    totalUsed: formatCredits(state.totalUsedMillicredits),
    lowBalanceThreshold: formatCredits(state.lowBalanceThresholdMillicredits),
    position,
    streamPosition,
    eventsApplied,
  };
};
