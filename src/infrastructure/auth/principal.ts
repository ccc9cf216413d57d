export const ROLES = ['user', 'service', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: the token's subject and its role. */
export interface Principal {
  readonly subject: string;
  readonly role: Role;
}

/** Account ids are token subjects (Supabase uses UUIDs, Auth0 `provider|id`). */
export const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@|-]{0,127}$/;
