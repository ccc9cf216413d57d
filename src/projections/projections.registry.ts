import { alertOutboxProjection } from './alert-outbox.projection';
import { balancesProjection } from './balances.projection';
import { expiryScheduleProjection } from './expiry-schedule.projection';
import type { Projection } from './projection';
import { purchasesProjection } from './purchases.projection';
import { transactionsProjection } from './transactions.projection';
import { usageDailyProjection } from './usage-daily.projection';

export const PROJECTIONS: readonly Projection[] = [
  balancesProjection,
  transactionsProjection,
  usageDailyProjection,
  purchasesProjection,
  expiryScheduleProjection,
  alertOutboxProjection,
];

export const projectionNamed = (name: string): Projection | undefined => PROJECTIONS.find((projection) => projection.name === name);
