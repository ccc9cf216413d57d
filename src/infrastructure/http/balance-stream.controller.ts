import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { BalanceFeed, type LiveMessage } from '../live/balance-feed';
import { APP_CONFIG } from '../tokens';
import type { AppConfig } from '../config/app-config';
import { resolveAccount } from './account-access';
import { accountIdSchema, parseOrThrow } from './validation';
import { ApiAnswers, ApiZodQuery, READ_ERRORS } from '../observability/openapi';

const streamQuery = z.strictObject({ accountId: accountIdSchema.optional() });

const frame = ({ event, id, data }: LiveMessage): string => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Server-Sent Events: `balance` on every change of the account's balance and
 * `low_balance` on every crossing, with heartbeats. The first message is the balance now
 * (so a client resuming with Last-Event-ID is brought up to date at once).
 */
@ApiTags('credits')
@Controller('api/credits/balance/stream')
export class BalanceStreamController {
  constructor(
    private readonly feed: BalanceFeed,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Server-Sent Events: the balance now, then `balance` on every change and `low_balance` on every crossing' })
  @ApiZodQuery(streamQuery)
  @ApiProduces('text/event-stream')
  @ApiAnswers({ status: 200, description: 'An event stream; Last-Event-ID resumes', contentType: 'text/event-stream' }, ...READ_ERRORS)
  async stream(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const input = parseOrThrow(streamQuery, query, 'query');
    const accountId = resolveAccount(principal, input.accountId, 'read');
    const resumeAfter = lastEventId !== undefined && /^\d{1,16}$/.test(lastEventId) ? Number(lastEventId) : -1;
    // Listen before reading the balance now, so nothing between the two is lost; hold what
    // arrives meanwhile and send only what is newer than that balance.
    const early: LiveMessage[] = [];
    let write: (message: LiveMessage) => void = (message) => void early.push(message);
    const stop = this.feed.listen(accountId, (message) => write(message));
    const first = await this.feed.snapshot(accountId).catch((error: unknown) => {
      stop();
      throw error;
    });
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write(`retry: 2000\n\n`);
    if (first.id > resumeAfter || resumeAfter < 0) raw.write(frame(first));
    for (const message of early) if (message.id > first.id) raw.write(frame(message));
    // A balance no newer than one already sent is not sent again (the catch-up below may repeat one).
    let balanceSent = Math.max(first.id, ...early.filter((message) => message.event === 'balance').map((message) => message.id));
    write = (message) => {
      if (message.event === 'balance') {
        if (message.id <= balanceSent) return;
        balanceSent = message.id;
      }
      raw.write(frame(message));
    };
    void this.feed.catchUp(accountId, first.id, (message) => write(message)).catch(() => undefined);
    const heartbeat = setInterval(() => raw.write(`: heartbeat ${Date.now()}\n\n`), this.config.sseHeartbeatMs);
    raw.on('close', () => {
      clearInterval(heartbeat);
      stop();
    });
  }
}
