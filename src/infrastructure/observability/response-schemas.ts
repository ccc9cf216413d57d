import { z } from 'zod';
import type { CheckoutSession } from '../stripe/payments.port';
import type {
  adjustmentResponse,
  balanceResponse,
  captureResponse,
  grantResponse,
  openReservationsResponse,
  packagesResponse,
  pricingResponse,
  releaseResponse,
  reservationResponse,
  thresholdResponse,
  transactionsResponse,
  usageAnalyticsResponse,
  useCreditsResponse,
} from '../http/responses';

/**
 * What the success answers look like, for the OpenAPI document. Each schema is checked at
 * compile time against the return type of the function that builds the answer
 * (src/infrastructure/http/responses.ts): a field added, dropped or retyped there fails
 * `npm run typecheck` until the document says the same.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const describes =
  <Answer>() =>
  <Schema extends z.ZodType>(schema: Schema, ..._check: Same<z.output<Schema>, Answer> extends true ? [] : [mismatch: z.output<Schema>, answer: Answer]) =>
    schema;

const credits = (description: string) => z.string().regex(/^-?\d+\.\d{3}$/).describe(`${description}: a decimal string with exactly 3 decimals`);
const position = z.number().int().describe('the global log position of the last event (read-your-writes: pass as minPosition)');
const after = { balance: credits('balance after'), available: credits('available after (balance - reserved)'), position };

export const useCreditsAnswer = describes<ReturnType<typeof useCreditsResponse>>()(
  z.object({ usageId: z.string(), service: z.string(), quantity: z.number().int(), charged: credits('charged'), ...after }),
);

export const grantAnswer = describes<ReturnType<typeof grantResponse>>()(
  z.object({
    grantId: z.string(),
    accountId: z.string(),
    credits: credits('granted'),
    reason: z.string(),
    expiresAt: z.string().nullable(),
    grantedBy: z.string(),
    ...after,
  }),
);

export const adjustmentAnswer = describes<ReturnType<typeof adjustmentResponse>>()(
  z.object({ adjustmentId: z.string(), accountId: z.string(), credits: credits('signed amount'), reason: z.string(), adjustedBy: z.string(), ...after }),
);

export const balanceAnswer = describes<ReturnType<typeof balanceResponse>>()(
  z.object({
    accountId: z.string(),
    balance: credits('balance'),
    available: credits('available'),
    reserved: credits('held by open reservations'),
    totalPurchased: credits('total purchased'),
    totalGranted: credits('total granted'),
    totalUsed: credits('total used'),
    lowBalanceThreshold: credits('low-balance threshold'),
    lowBalance: z.boolean(),
    expiringWithin7Days: credits('granted credits expiring within 7 days'),
    burnRatePerHour: credits('spent over the last hour'),
    estimatedDepletionAt: z.string().nullable().describe('when available reaches zero at the burn rate; null when nothing is spent or left'),
    position,
  }),
);

export const transactionsAnswer = describes<ReturnType<typeof transactionsResponse>>()(
  z.object({
    items: z.array(
      z.object({
        id: z.string(),
        type: z.string().describe('purchase, grant, usage, adjustment, refund or expiry'),
        credits: credits('signed amount'),
        balanceAfter: credits('balance after'),
        service: z.string().exactOptional(),
        quantity: z.number().int().exactOptional(),
        description: z.string(),
        occurredAt: z.string(),
        position,
      }),
    ),
    nextCursor: z.string().nullable(),
  }),
);

/** Built per groupBy: each item has `service` or `day`, so this one is declared rather than checked. */
export const usageAnswer = z.object({
  accountId: z.string(),
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['service', 'day']),
  items: z.array(z.object({ service: z.string().optional(), day: z.string().optional(), quantity: z.number().int(), credits: credits('charged') })),
  totalCredits: credits('charged in total'),
});

export const usageAnalyticsAnswer = describes<ReturnType<typeof usageAnalyticsResponse>>()(
  z.object({
    from: z.string(),
    to: z.string(),
    byService: z.array(z.object({ service: z.string(), quantity: z.number().int(), credits: credits('charged'), accounts: z.number().int() })),
    topAccounts: z.array(z.object({ accountId: z.string(), credits: credits('charged') })),
  }),
);

export const pricingAnswer = describes<ReturnType<typeof pricingResponse>>()(
  z.object({
    version: z.string(),
    effectiveFrom: z.string(),
    services: z.array(z.object({ service: z.string(), unit: z.string(), credits: credits('price of `per` units'), per: z.number().int(), description: z.string() })),
  }),
);

export const packagesAnswer = describes<ReturnType<typeof packagesResponse>>()(
  z.array(z.object({ id: z.string(), name: z.string(), credits: credits('credits'), priceCents: z.number().int(), currency: z.string() })),
);

export const checkoutAnswer = describes<CheckoutSession>()(z.object({ sessionId: z.string(), checkoutUrl: z.string() }));

export const thresholdAnswer = describes<ReturnType<typeof thresholdResponse>>()(
  z.object({ accountId: z.string(), lowBalanceThreshold: credits('threshold'), ...after }),
);

export const reservationAnswer = describes<ReturnType<typeof reservationResponse>>()(
  z.object({ reservationId: z.string(), service: z.string(), quantity: z.number().int(), reserved: credits('held'), expiresAt: z.string(), ...after }),
);

export const captureAnswer = describes<ReturnType<typeof captureResponse>>()(
  z.object({
    reservationId: z.string(),
    service: z.string(),
    quantity: z.number().int(),
    charged: credits('charged'),
    released: credits('released'),
    ...after,
  }),
);

export const releaseAnswer = describes<ReturnType<typeof releaseResponse>>()(z.object({ reservationId: z.string(), released: credits('released'), ...after }));

export const openReservationsAnswer = describes<ReturnType<typeof openReservationsResponse>>()(
  z.object({
    items: z
      .array(z.object({ reservationId: z.string(), service: z.string(), reserved: credits('held'), expiresAt: z.string() }))
      .describe('open reservations not past expiresAt, soonest-expiring first'),
  }),
);
