import type { CreditPackage, ServiceRate } from '../../client/src/index';

/** "1234.500" → "1,234.500": grouping only, the amount stays the service's exact string. */
export const credits = (amount: string): string => {
  const [whole = '0', fraction = '000'] = amount.replace('-', '').split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${amount.startsWith('-') ? '−' : ''}${grouped}.${fraction}`;
};

/** Integer minor units → "$10.00" (two-decimal currencies), without floating point. */
export const price = (pkg: CreditPackage): string => {
  const major = Math.trunc(pkg.priceCents / 100);
  const minor = String(pkg.priceCents % 100).padStart(2, '0');
  return pkg.currency.toLowerCase() === 'usd' ? `$${major}.${minor}` : `${major}.${minor} ${pkg.currency.toUpperCase()}`;
};

/** "60.000" per 1000 token → "60 credits per 1,000 tokens". */
export const rate = (service: ServiceRate): string => {
  const amount = service.credits.replace(/\.?0+$/, '');
  const units = service.per === 1 ? service.unit : `${service.per.toLocaleString('en-US')} ${service.unit}s`;
  return `${amount} ${amount === '1' ? 'credit' : 'credits'} per ${units}`;
};

export const dateTime = (iso: string): string =>
  new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** The `sub` of a JWT, for display only (the service verifies the token). */
export const subjectOf = (token: string): string | undefined => {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown };
    return typeof json.sub === 'string' ? json.sub : undefined;
  } catch {
    return undefined;
  }
};

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
