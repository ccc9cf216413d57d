import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
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
    private readonly key: Uint8Array | JWTVerifyGetKey,
    private readonly algorithms: string[],
  ) {}

  static fromConfig(auth: AuthConfig): JwtVerifier {
    return auth.kind === 'secret'
      ? new JwtVerifier(new TextEncoder().encode(auth.secret), ['HS256'])
      : new JwtVerifier(createRemoteJWKSet(new URL(auth.url)), ['RS256', 'ES256']);
  }

  async verify(authorization: string | undefined): Promise<Verification> {
    const token = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) return unauthenticated('missing or malformed Authorization: Bearer <token>');
    let payload: JWTPayload;
    try {
      ({ payload } =
        this.key instanceof Uint8Array
          ? await jwtVerify(token, this.key, { algorithms: this.algorithms, requiredClaims: ['exp'] })
          : await jwtVerify(token, this.key, { algorithms: this.algorithms, requiredClaims: ['exp'] }));
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
