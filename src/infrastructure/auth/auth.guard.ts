import { createParamDecorator, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/api-error';
import { JwtVerifier } from './jwt-verifier';
import type { Principal } from './principal';

const PUBLIC_ROUTE = 'ledger:public-route';

/** Marks a route that needs no token (health, the signature-authenticated Stripe webhook). */
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);

type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

/** Every route needs a valid bearer token unless it is marked public. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly verifier: JwtVerifier,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const verification = await this.verifier.verify(request.headers.authorization);
    if (!verification.ok) {
      throw new ApiError(verification.status === 401 ? 'unauthenticated' : 'forbidden', verification.reason);
    }
    request.principal = verification.principal;
    return true;
  }
}

export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (principal === undefined) throw new Error('CurrentPrincipal used on a public route');
  return principal;
});
