/**
 * The read side as the application sees it: Postgres read models kept by projections.
 * Amounts are integer millicredits; positions are global log positions.
 */
export interface BalanceView {
  readonly accountId: string;
  readonly balanceMillicredits: number;
  readonly reservedMillicredits: number;
  readonly totalPurchasedMillicredits: number;
  readonly totalGrantedMillicredits: number;
  readonly totalUsedMillicredits: number;
  readonly lots: readonly { readonly remainingMillicredits: number; readonly expiresAt: string | null }[];
  readonly lowBalanceThresholdMillicredits: number;
  /** Position of the account's last event in this view; 0 for an account never seen. */
  readonly position: number;
}

export interface TransactionView {
  readonly id: string;
  readonly type: string;
  readonly creditsMillicredits: number;
  readonly balanceAfterMillicredits: number;
  readonly service: string | null;
  readonly quantity: number | null;
  readonly description: string;
  readonly occurredAt: string;
  readonly position: number;
  /** The entry's place in its account's history: what a page cursor points at. */
  readonly sequence: number;
}

export interface TransactionPageRequest {
  readonly accountId: string;
  readonly limit: number;
  /** Entries strictly older than this sequence (the previous page's cursor). */
  readonly beforeSequence: number | null;
  readonly type: string | null;
}

export interface UsageRange {
  /** Inclusive first and last UTC days, YYYY-MM-DD. */
  readonly fromDay: string;
  readonly toDay: string;
}

export interface UsageTotal {
  readonly key: string;
  readonly quantity: number;
  readonly creditsMillicredits: number;
}

export interface UsageAnalytics {
  readonly byService: readonly (UsageTotal & { readonly accounts: number })[];
  readonly topAccounts: readonly { readonly accountId: string; readonly creditsMillicredits: number }[];
}

export interface ReadModels {
  balance(accountId: string): Promise<BalanceView>;
  /** Credits the account spent since `since` (its recent burn). */
  spentSince(accountId: string, since: Date): Promise<number>;
  transactions(request: TransactionPageRequest): Promise<readonly TransactionView[]>;
  usage(accountId: string, range: UsageRange, groupBy: 'service' | 'day'): Promise<readonly UsageTotal[]>;
  usageAnalytics(range: UsageRange, topAccounts: number): Promise<UsageAnalytics>;
}

export type ProjectionName = 'balances' | 'transactions' | 'usage_daily' | 'purchases' | 'expiry_schedule' | 'alert_outbox';

/** Read-your-writes: resolves true once every named projection has applied `position`. */
export interface ProjectionProgress {
  waitFor(projections: readonly ProjectionName[], position: number, timeoutMs: number): Promise<boolean>;
}

export const READ_MODELS = Symbol('ReadModels');
export const PROJECTION_PROGRESS = Symbol('ProjectionProgress');
