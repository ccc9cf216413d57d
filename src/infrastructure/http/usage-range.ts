import type { UsageRange } from '../../application/read-models.port';
import { validationFailed } from './api-error';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DAYS = 30;
const MAX_DAYS = 366;

const dayOf = (instant: number): string => new Date(instant).toISOString().slice(0, 10);

/** Inclusive UTC days; by default the 30 days up to today. At most a year. */
export const usageRange = (from: string | undefined, to: string | undefined, now: Date): UsageRange => {
  const toDay = to ?? dayOf(now.getTime());
  const fromDay = from ?? dayOf(Date.parse(toDay) - (DEFAULT_DAYS - 1) * DAY_MS);
  const days = (Date.parse(toDay) - Date.parse(fromDay)) / DAY_MS + 1;
  if (days < 1) throw validationFailed([{ field: 'query.from', problem: 'must not be after to' }]);
  if (days > MAX_DAYS) throw validationFailed([{ field: 'query.from', problem: `the range may span at most ${MAX_DAYS} days` }]);
  return { fromDay, toDay };
};
