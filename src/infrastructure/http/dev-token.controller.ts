import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { CLOCK, type Clock } from '../../application/clock.port';
import { PublicRoute } from '../auth/auth.guard';
import { ROLES } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../tokens';
import { ApiError } from './api-error';
import { accountIdSchema, parseOrThrow } from './validation';

const DEV_TOKEN_TTL_SECONDS = 12 * 60 * 60;

const devTokenBody = z.strictObject({
  sub: accountIdSchema,
  role: z.enum(ROLES).default('user'),
});

/** True only when the service signs with its development secret (no AUTH_JWT_SECRET, not production). */
export const devTokensEnabled = (config: AppConfig): boolean => config.auth.kind === 'secret' && config.auth.development && !config.production;

/**
 * `POST /api/dev/token { sub, role }`: what `npm run token` does, for the dashboard's
 * "Get a development token" button. It exists only while the service runs on its
 * development secret; anywhere else it is 404, like any unknown route.
 */
@Controller('api/dev/token')
export class DevTokenController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post()
  @PublicRoute()
  @HttpCode(201)
  async issue(@Body() body: unknown) {
    const auth = this.config.auth;
    if (!devTokensEnabled(this.config) || auth.kind !== 'secret') throw new ApiError('not_found', 'no such route or resource');
    const input = parseOrThrow(devTokenBody, body ?? {}, 'body');
    const issuedAtSeconds = Math.floor(this.clock.now().getTime() / 1000);
    const expiresAtSeconds = issuedAtSeconds + DEV_TOKEN_TTL_SECONDS;
    const token = await new SignJWT({ role: input.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(input.sub)
      .setIssuedAt(issuedAtSeconds)
      .setExpirationTime(expiresAtSeconds)
      .sign(new TextEncoder().encode(auth.secret));
    return { token, sub: input.sub, role: input.role, expiresAt: new Date(expiresAtSeconds * 1000).toISOString() };
  }
}
