import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
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

const grantBody = z.strictObject({
  credits: creditsSchema('positive'),
  reason: reasonSchema,
  expiresAt: instantSchema.optional(),
});

const adjustmentBody = z.strictObject({
  credits: creditsSchema('nonzero'),
  reason: reasonSchema,
});

@Controller('api/admin/accounts/:accountId')
export class AdminController {
  constructor(private readonly commands: CommandBus) {}

  @Post('grants')
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
        ...identity,
        creditsMillicredits: input.credits,
        reason: input.reason,
        expiresAt: input.expiresAt ?? null,
        grantedBy: principal.subject,
      }),
    );
    return answer(reply, outcome, identity, grantResponse);
  }

  @Post('adjustments')
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
        ...identity,
        creditsMillicredits: input.credits,
        reason: input.reason,
        adjustedBy: principal.subject,
      }),
    );
    return answer(reply, outcome, identity, adjustmentResponse);
  }
}
