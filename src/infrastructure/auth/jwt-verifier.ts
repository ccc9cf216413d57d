import { createSecretKey, KeyObject } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config/app-config';
import { ACCOUNT_ID_PATTERN, ROLES, type Principal, type Role } from './principal';

export type Verification =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

const SUPABASE_DEFAULT_ROLE = 'authenticated';
/** Supabase's own names for roles, mapped to ours. */
const ROLE_ALIASES: Readonly<Record<string, Role>> = { service_role: 'service' };

/** Verifies bearer tokens: HS256 with a shared secret, or RS256/ES256 against a JWKS. */
export class JwtVerifier {
  private constructor(
    private readonly key: KeyObject | JWTVerifyGetKey,
    private readonly algorithms: string[],
  ) {}

  static fromConfig(auth: AuthConfig): JwtVerifier {
    return auth.kind === 'secret'
      ? // One key object for the process: made per request, it is a measurable share of a spend's CPU.
        new JwtVerifier(createSecretKey(Buffer.from(auth.secret, 'utf8')), ['HS256'])
      : new JwtVerifier(createRemoteJWKSet(new URL(auth.url)), ['RS256', 'ES256']);
  }

  /** Tokens verified lately: a client sends the same token with every request. */
  private readonly verified = new Map<string, { readonly principal: Principal; readonly validUntilMs: number; readonly notBeforeMs: number }>();

  async verify(authorization: string | undefined, nowMs = Date.now()): Promise<Verification> {
    const token = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) return unauthenticated('missing or malformed Authorization: Bearer <token>');
    const known = this.verified.get(token);
    if (known !== undefined && nowMs < known.validUntilMs && nowMs >= known.notBeforeMs) return { ok: true, principal: known.principal };
    const verification = await this.verifyToken(token, nowMs);
    if (verification.ok) this.remember(token, verification.principal, nowMs);
    return verification;
  }

  /**
   * Keeps a verified token until its `exp`, for at most a minute (a key removed from the
   * JWKS stops being honoured within that), bounded in number.
   */
  private remember(token: string, principal: Principal, nowMs: number): void {
    const claims = decodeJwt(token);
    if (typeof claims.exp !== 'number') return;
    this.verified.delete(token);
    this.verified.set(token, {
      principal,
      validUntilMs: Math.min(claims.exp * 1000, nowMs + VERIFIED_TOKEN_TTL_MS),
      notBeforeMs: typeof claims.nbf === 'number' ? claims.nbf * 1000 : 0,
    });
    for (const oldest of this.verified.keys()) {
      if (this.verified.size <= VERIFIED_TOKENS_KEPT) break;
      this.verified.delete(oldest);
    }
  }

  private async verifyToken(token: string, nowMs: number): Promise<Verification> {
    const options = { algorithms: this.algorithms, requiredClaims: ['exp'], currentDate: new Date(nowMs) };
    let payload: JWTPayload;
    try {
      ({ payload } =
        this.key instanceof KeyObject
          ? await jwtVerify(token, this.key, options)
          : await jwtVerify(token, this.key, options));
    } catch (error) {
      return unauthenticated(error instanceof errors.JWTExpired ? 'token expired' : 'invalid token');
    }
    const role = roleOf(payload);
    if (role === undefined) return { ok: false, status: 403, reason: 'token role is not one of user, service, admin, auditor' };
    // Supabase service keys carry no sub: a role acting for others is then known by its role.
    const subject: unknown = payload.sub ?? (role === 'user' ? undefined : role);
    if (typeof subject !== 'string' || !ACCOUNT_ID_PATTERN.test(subject)) return unauthenticated('token has no usable sub');
    return { ok: true, principal: { subject, role } };
  }
}

const VERIFIED_TOKEN_TTL_MS = 60_000;
const VERIFIED_TOKENS_KEPT = 10_000;

const unauthenticated = (reason: string): Verification => ({ ok: false, status: 401, reason });

/** The `role` claim, else `app_metadata.role`; none, or Supabase's `authenticated`, means user. */
const roleOf = (payload: JWTPayload): Role | undefined => {
  const appMetadata = payload['app_metadata'];
  const appRole =
    typeof appMetadata === 'object' && appMetadata !== null ? (appMetadata as Record<string, unknown>)['role'] : undefined;
  const claimed = [payload['role'], appRole].find((candidate) => candidate !== undefined && candidate !== SUPABASE_DEFAULT_ROLE);
  if (claimed === undefined) return 'user';
  if (typeof claimed === 'string' && Object.hasOwn(ROLE_ALIASES, claimed)) return ROLE_ALIASES[claimed];
  return ROLES.find((role) => role === claimed);
}
