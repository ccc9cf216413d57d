import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AdjustCreditsCommand } from '../../application/adjust-credits/adjust-credits.command';
import { GrantCreditsCommand } from '../../application/grant-credits/grant-credits.command';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { requireAccess } from './account-access';
import { answer } from './command-answer';
import { commandIdentity } from './idempotency';
import { adjustmentResponse, grantResponse } from './responses';
import { accountIdSchema, creditsSchema, instantSchema, parseOrThrow, reasonSchema } from './validation';
import { ApiAnswers, ApiIdempotent, ApiZodBody, WRITE_ERRORS } from '../observability/openapi';
import { adjustmentAnswer, grantAnswer } from '../observability/response-schemas';

const grantBody = z.strictObject({
  credits: creditsSchema('positive'),
  reason: reasonSchema,
  expiresAt: instantSchema.optional(),
});

const adjustmentBody = z.strictObject({
  credits: creditsSchema('nonzero'),
  reason: reasonSchema,
});

@ApiTags('admin')
@Controller('api/admin/accounts/:accountId')
export class AdminController {
  constructor(private readonly commands: CommandBus) {}

  @Post('grants')
  @ApiOperation({ summary: 'Grant promotional credits (admin); unused granted credits expire at expiresAt' })
  @ApiZodBody(grantBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 201, description: 'The grant, the balance after it and its position', schema: grantAnswer }, ...WRITE_ERRORS)
  async grant(
    @CurrentPrincipal() principal: Principal,
    @Param('accountId') accountIdParam: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    requireAccess(principal, 'administer');
    const accountId = parseOrThrow(accountIdSchema, accountIdParam, 'path.accountId');
    const input = parseOrThrow(grantBody, body, 'body');
    const identity = commandIdentity(idempotencyKey, 'grant', accountId, input);
    const outcome = await this.commands.execute(
      new GrantCreditsCommand({
        creditsMillicredits: input.credits,
        reason: input.reason,
        expiresAt: input.expiresAt ?? null,
        grantedBy: principal.subject,
        ...identity,
      }),
    );
    return answer(reply, outcome, identity, grantResponse);
  }

  @Post('adjustments')
  @ApiOperation({ summary: "A signed correction (admin), recorded with the admin's sub" })
  @ApiZodBody(adjustmentBody)
  @ApiIdempotent()
  @ApiAnswers({ status: 201, description: 'The adjustment, the balance after it and its position', schema: adjustmentAnswer }, ...WRITE_ERRORS)
  async adjust(
    @CurrentPrincipal() principal: Principal,
    @Param('accountId') accountIdParam: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    requireAccess(principal, 'administer');
    const accountId = parseOrThrow(accountIdSchema, accountIdParam, 'path.accountId');
    const input = parseOrThrow(adjustmentBody, body, 'body');
    const identity = commandIdentity(idempotencyKey, 'adjust', accountId, input);
    const outcome = await this.commands.execute(
      new AdjustCreditsCommand({
        creditsMillicredits: input.credits,
        reason: input.reason,
        adjustedBy: principal.subject,
        ...identity,
      }),
    );
    return answer(reply, outcome, identity, adjustmentResponse);
  }
}
