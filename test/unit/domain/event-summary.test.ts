import { ACCOUNT_EVENT_TYPES, type AccountEvent } from '../../../src/domain/account.events';
import { summarizeEvent } from '../../../src/domain/event-summary';
import { adjusted, draw, granted, JUN_1, MAR_1, purchased, used } from './account.fixtures';

const facts = { accountId: 'acc-1', commandId: 'c1', requestHash: 'hash-c1', occurredAt: MAR_1 };

/** One event of every type, each with every field of its data. */
const EVENTS: readonly AccountEvent[] = [
  purchased('c1', MAR_1, 5000),
  granted('c1', MAR_1, 5000, JUN_1),
  used('c1', MAR_1, 'sms', 2, 2000, [draw('p0', 2000)]),
  adjusted('c1', MAR_1, -700, [draw('p0', 700)]),
  {
    type: 'CreditsRefunded',
    schemaVersion: 1,
    data: { ...facts, paymentReference: 'cs_1', refundedCentsTotal: 500, creditsMillicredits: 5000, draws: [draw('p0', 5000)], debtIncurredMillicredits: 0 },
  },
  {
    type: 'PaymentHeldForReview',
    schemaVersion: 1,
    data: { ...facts, paymentReference: 'cs_2', paymentIntentId: null, packageId: 'starter', paidCents: 1, paidCurrency: 'usd', expectedCents: 1000, expectedCurrency: 'usd' },
  },
  {
    type: 'CreditsReserved',
    schemaVersion: 1,
    data: { ...facts, reservationId: 'r1', service: 'voice', unit: 'minute', quantity: 3, rateCardVersion: 'v1', unitPriceMillicredits: 500, per: 1, reservedMillicredits: 1500, expiresAt: JUN_1 },
  },
  {
    type: 'ReservationCaptured',
    schemaVersion: 1,
    data: { ...facts, reservationId: 'r1', service: 'voice', quantity: 2, chargedMillicredits: 1000, reservedMillicredits: 1500, releasedMillicredits: 500, draws: [draw('p0', 1000)] },
  },
  { type: 'ReservationReleased', schemaVersion: 1, data: { ...facts, reservationId: 'r1', releasedMillicredits: 1500, reason: 'released' } },
  { type: 'CreditsExpired', schemaVersion: 1, data: { ...facts, lotId: 'lot-g1', expiredMillicredits: 300, expiresAt: MAR_1 } },
  { type: 'LowBalanceThresholdSet', schemaVersion: 1, data: { ...facts, thresholdMillicredits: 4000 } },
  {
    type: 'LowBalanceReached',
    schemaVersion: 1,
    data: { ...facts, alertId: 'acc-1:c1:low-balance', thresholdMillicredits: 4000, balanceMillicredits: 3000, availableMillicredits: 3000 },
  },
];

describe('the summary a command record keeps of its first event', () => {
  it('covers every event type', () => {
    expect(EVENTS.map((event) => event.type).sort()).toEqual([...ACCOUNT_EVENT_TYPES].sort());
  });

  it.each(EVENTS.map((event) => [event.type, event] as const))('of %s keeps its type and a part of its data, unchanged', (_, event) => {
    const summary = summarizeEvent(event);
    expect(summary.type).toBe(event.type);
    expect(Object.keys(summary)).toEqual(['type', 'data']);
    const whole = event.data as unknown as Record<string, unknown>;
    for (const [field, value] of Object.entries(summary.data)) expect(whole[field]).toStrictEqual(value);
  });

  it('keeps what a repeat is answered with, and drops the draws, metadata, rate and command facts', () => {
    expect(summarizeEvent(used('c1', MAR_1, 'sms', 2, 2000, [draw('p0', 2000)]))).toStrictEqual({
      type: 'CreditsUsed',
      data: { usageId: 'usage-c1', service: 'sms', quantity: 2, chargedMillicredits: 2000 },
    });
    const captured = EVENTS.find((event) => event.type === 'ReservationCaptured');
    expect(captured && summarizeEvent(captured)).toStrictEqual({
      type: 'ReservationCaptured',
      data: { reservationId: 'r1', service: 'voice', quantity: 2, chargedMillicredits: 1000, releasedMillicredits: 500 },
    });
    expect(summarizeEvent(purchased('c1', MAR_1, 5000))).toStrictEqual({ type: 'CreditsPurchased', data: {} });
  });

  it.each(EVENTS.map((event) => [event.type, event] as const))('of %s is its own summary, so a record read back is summarized the same', (_, event) => {
    const summary = summarizeEvent(event);
    expect(summarizeEvent(JSON.parse(JSON.stringify(summary)) as typeof summary)).toStrictEqual(summary);
  });

  it('refuses an event type it does not know, rather than keep nothing of it', () => {
    expect(() => summarizeEvent({ type: 'CreditsMinted', data: {} } as unknown as AccountEvent)).toThrow('no summary for an event of type CreditsMinted');
  });
});
