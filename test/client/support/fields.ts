import type {
  AlertSettings,
  Balance,
  CaptureResult,
  CheckoutSession,
  CreditPackage,
  EndpointName,
  OpenReservation,
  OpenReservations,
  RateCard,
  ReleaseResult,
  Reservation,
  ServiceRate,
  Transaction,
  TransactionPage,
  UsageItem,
  UsageReport,
  UseCreditsResult,
} from '../../../client/src/index';

/**
 * The field names of each hand-written response type, as runtime lists. The compiler
 * refuses a list that misses a field of its type or names one it does not have, so the
 * lists are the types' own keys; the tests compare them with what the service answers
 * and with its OpenAPI document.
 */
const fieldsOf =
  <T>() =>
  <const K extends ReadonlyArray<keyof T & string>>(
    ...keys: K & (Exclude<keyof T, K[number]> extends never ? unknown : { missing: Exclude<keyof T, K[number]> })
  ): readonly string[] =>
    keys;

export const FIELDS = {
  Balance: fieldsOf<Balance>()(
    'accountId',
    'balance',
    'available',
    'reserved',
    'totalPurchased',
    'totalGranted',
    'totalUsed',
    'lowBalanceThreshold',
    'lowBalance',
    'expiringWithin7Days',
    'burnRatePerHour',
    'estimatedDepletionAt',
    'position',
  ),
  UseCreditsResult: fieldsOf<UseCreditsResult>()('usageId', 'service', 'quantity', 'charged', 'balance', 'available', 'position'),
  Reservation: fieldsOf<Reservation>()('reservationId', 'service', 'quantity', 'reserved', 'expiresAt', 'balance', 'available', 'position'),
  OpenReservations: fieldsOf<OpenReservations>()('items'),
  OpenReservation: fieldsOf<OpenReservation>()('reservationId', 'service', 'reserved', 'expiresAt'),
  CaptureResult: fieldsOf<CaptureResult>()('reservationId', 'service', 'quantity', 'charged', 'released', 'balance', 'available', 'position'),
  ReleaseResult: fieldsOf<ReleaseResult>()('reservationId', 'released', 'balance', 'available', 'position'),
  CheckoutSession: fieldsOf<CheckoutSession>()('sessionId', 'checkoutUrl'),
  TransactionPage: fieldsOf<TransactionPage>()('items', 'nextCursor'),
  Transaction: fieldsOf<Transaction>()('id', 'type', 'credits', 'balanceAfter', 'service', 'quantity', 'description', 'occurredAt', 'position'),
  RateCard: fieldsOf<RateCard>()('version', 'effectiveFrom', 'services'),
  ServiceRate: fieldsOf<ServiceRate>()('service', 'unit', 'credits', 'per', 'description'),
  CreditPackage: fieldsOf<CreditPackage>()('id', 'name', 'credits', 'priceCents', 'currency'),
  UsageReport: fieldsOf<UsageReport>()('accountId', 'from', 'to', 'groupBy', 'items', 'totalCredits'),
  UsageItem: fieldsOf<UsageItem>()('service', 'day', 'quantity', 'credits'),
  AlertSettings: fieldsOf<AlertSettings>()('accountId', 'lowBalanceThreshold', 'balance', 'available', 'position'),
} as const;

export type TypeName = keyof typeof FIELDS;

/** What each endpoint answers (top level), and where nested typed objects sit in it. */
export interface ResponseShape {
  readonly type: TypeName;
  /** `array`: the answer is a list of `type`. */
  readonly array?: boolean;
  /** Property name → the type of the objects in that array property. */
  readonly nested?: Readonly<Record<string, TypeName>>;
}

export const RESPONSES: Readonly<Record<EndpointName, ResponseShape | undefined>> = {
  balance: { type: 'Balance' },
  balanceStream: undefined,
  transactions: { type: 'TransactionPage', nested: { items: 'Transaction' } },
  usage: { type: 'UsageReport', nested: { items: 'UsageItem' } },
  pricing: { type: 'RateCard', nested: { services: 'ServiceRate' } },
  packages: { type: 'CreditPackage', array: true },
  use: { type: 'UseCreditsResult' },
  checkout: { type: 'CheckoutSession' },
  alerts: { type: 'AlertSettings' },
  reservations: { type: 'OpenReservations', nested: { items: 'OpenReservation' } },
  reserve: { type: 'Reservation' },
  capture: { type: 'CaptureResult' },
  release: { type: 'ReleaseResult' },
};

/** The keys of an answer must all be fields of its type (optional fields may be absent). */
export const expectFieldsOf = (type: TypeName, value: object, { exact = true }: { exact?: boolean } = {}): void => {
  const keys = Object.keys(value).sort();
  const known = [...FIELDS[type]].sort();
  if (exact) expect(keys).toEqual(known);
  else expect(known).toEqual(expect.arrayContaining(keys));
};
