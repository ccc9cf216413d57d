import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ListOpenReservationsQuery } from '../../application/reservations/list-open-reservations';
import { accountOfReservation } from '../../application/reservations/reservation-id';
import {
  CaptureReservationCommand,
  ReleaseReservationCommand,
  ReserveCreditsCommand,
} from '../../application/reservations/reservation.commands';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { resolveAccount } from './account-access';
import { ApiError } from './api-error';
import { answer } from './command-answer';
import { commandIdentity } from './idempotency';
import { captureResponse, openReservationsResponse, releaseResponse, reservationResponse } from './responses';
import { accountIdSchema, minPositionSchema, parseOrThrow, quantitySchema, textSchema } from './validation';
import { ApiAnswers, ApiIdempotent, ApiZodBody, ApiZodQuery, READ_ERRORS, WRITE_ERRORS } from '../observability/openapi';
import { captureAnswer, openReservationsAnswer, releaseAnswer, reservationAnswer } from '../observability/response-schemas';

const DEFAULT_TTL_SECONDS = 300;
const MAX_TTL_SECONDS = 24 * 60 * 60;

const reserveBody = z.strictObject({
  service: textSchema().min(1).max(64),
  quantity: quantitySchema,
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  accountId: accountIdSchema.optional(),
});
const captureBody = z.strictObject({ quantity: quantitySchema });
const releaseBody = z.strictObject({}).optional();
// minPosition as on every GET: the list comes from the event log itself, so it is always met.
const listQuery = z.strictObject({ accountId: accountIdSchema.optional(), minPosition: minPositionSchema });

/** Holds for metered sessions (a voice call, a streamed completion): reserve, then capture or release. */
@ApiTags('reservations')
@Controller('api/credits/reservations')
export class ReservationsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @Get()
  @ApiOperation({ summary: "The account's open reservations not past expiresAt, soonest-expiring first, from the event log (not in API.md)" })
  @ApiZodQuery(listQuery)
  @ApiAnswers({ status: 200, description: 'The holds that can still be captured or released', schema: openReservationsAnswer }, ...READ_ERRORS)
  async list(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const input = parseOrThrow(listQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    return openReservationsResponse(await this.queries.execute(new ListOpenReservationsQuery(accountId)));
  }

  @Post()
  @ApiOperation({ summary: 'Hold credits for a metered session; the hold counts against available at once' })
  @ApiZodBody(reserveBody)
  @ApiIdempotent()
  @ApiAnswers(
    { status: 201, description: 'The hold and the balance after it', schema: reservationAnswer },
    ...WRITE_ERRORS,
    'insufficient_credits',
  )
  @HttpCode(201)
  async reserve(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const input = parseOrThrow(reserveBody, body, 'body');
    const accountId = resolveAccount(principal, input.accountId, 'spend');
    const identity = commandIdentity(idempotencyKey, 'reserve', accountId, input);
    const outcome = await this.commands.execute(
      new ReserveCreditsCommand({ service: input.service, quantity: input.quantity, ttlSeconds: input.ttlSeconds, ...identity }),
    );
    return answer(reply, outcome, identity, reservationResponse);
  }

  @Post(':reservationId/capture')
  @ApiOperation({ summary: "Charge the actual quantity at the reservation's price and end the hold" })
  @ApiZodBody(captureBody)
  @ApiIdempotent()
  @ApiAnswers(
    { status: 200, description: 'What was charged and released', schema: captureAnswer },
    ...WRITE_ERRORS,
    'insufficient_credits',
    'not_found',
    'reservation_closed',
  )
  @HttpCode(200)
  async capture(
    @CurrentPrincipal() principal: Principal,
    @Param('reservationId') reservationId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const accountId = this.accountOf(principal, reservationId);
    const input = parseOrThrow(captureBody, body, 'body');
    const identity = commandIdentity(idempotencyKey, `capture:${reservationId}`, accountId, input);
    const outcome = await this.commands.execute(new CaptureReservationCommand({ reservationId, quantity: input.quantity, ...identity }));
    return answer(reply, outcome, identity, captureResponse);
  }

  @Post(':reservationId/release')
  @ApiOperation({ summary: 'Release the whole hold' })
  @ApiZodBody(releaseBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 200, description: 'What was released', schema: releaseAnswer }, ...WRITE_ERRORS, 'not_found', 'reservation_closed')
  @HttpCode(200)
  async release(
    @CurrentPrincipal() principal: Principal,
    @Param('reservationId') reservationId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const accountId = this.accountOf(principal, reservationId);
    parseOrThrow(releaseBody, body ?? undefined, 'body');
    const identity = commandIdentity(idempotencyKey, `release:${reservationId}`, accountId, {});
    const outcome = await this.commands.execute(new ReleaseReservationCommand({ reservationId, ...identity }));
    return answer(reply, outcome, identity, releaseResponse);
  }

  /** The account a reservation id names; a user may only touch its own. */
  private accountOf(principal: Principal, reservationId: string): string {
    const accountId = accountOfReservation(reservationId);
    if (accountId === undefined) throw new ApiError('not_found', `no reservation ${reservationId}`);
    return resolveAccount(principal, accountId, 'spend');
  }
}
