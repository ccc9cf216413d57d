import type { Principal, Role } from '../auth/principal';
import { ApiError, validationFailed } from './api-error';

export type Access = 'read' | 'spend' | 'administer' | 'analytics' | 'audit';

const ALLOWED: Readonly<Record<Role, readonly Access[]>> = {
  user: ['read', 'spend'],
  service: ['read', 'spend'],
  admin: ['read', 'spend', 'administer', 'analytics', 'audit'],
  auditor: ['read', 'analytics', 'audit'],
};

/** Roles that act for any account and so must name it. */
const ACTS_FOR_OTHERS: ReadonlySet<Role> = new Set(['service', 'admin', 'auditor']);

/**
 * The account a request acts on, per API.md's role table: a user only ever its own
 * (`sub`), the other roles the one they name; a role without the access gets 403.
 */
export const resolveAccount = (principal: Principal, requested: string | undefined, access: Access): string => {
  requireAccess(principal, access);
  if (!ACTS_FOR_OTHERS.has(principal.role)) {
    if (requested !== undefined && requested !== principal.subject) {
      throw new ApiError('forbidden', 'a user may only act on its own account');
    }
    return principal.subject;
  }
  if (requested === undefined) {
    throw validationFailed([{ field: 'accountId', problem: `is required for role ${principal.role}` }]);
  }
  return requested;
};

export const requireAccess = (principal: Principal, access: Access): void => {
  if (!ALLOWED[principal.role].includes(access)) {
    throw new ApiError('forbidden', `role ${principal.role} may not ${access}`);
  }
};
