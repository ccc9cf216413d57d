import type { AccountCommand } from '../../../src/domain/account.commands';
import { burnOrder, decide, spendableMillicredits } from '../../../src/domain/account.decider';
import type { AccountEvent } from '../../../src/domain/account.events';
import type { Lot } from '../../../src/domain/account.state';
import type { EventSummary } from '../../../src/domain/event-summary';
import type { AppliedRate } from '../../../src/domain/rate-card';
import {
  APR_1,
  JUN_1,
  MAR_1,
  MAR_2,
  MAR_3,
  RETENTION_MS,
  adjustCredits,
  adjusted,
  draw,
  grantCredits,
  granted,
  plusMs,
  purchased,
  recordPurchase,
  useCredits,
  used,
} from './account.fixtures';
import { DEFAULT_OPTIONS, given } from './given-when-then';

const MAX = Number.MAX_SAFE_INTEGER;

/** A test-only line priced at one millicredit per unit, to reach any charge exactly. */
const METERED: AppliedRate = { rateCardVersion: 'test-metered', unit: 'unit', unitPriceMillicredits: 1, per: 1 };
const meter = (commandId: string, now: string, quantity: number) =>
  useCredits(commandId, now, 'metered', quantity, { rate: METERED });

describe('UseCredits', () => {
  it('charges ceil(quantity × price / per), records the rate it was charged at and the lots drawn', () => {
    const after = given([purchased('p1', MAR_1, 100_000)])
      .when(useCredits('u1', MAR_2, 'gpt-4', 1500, { metadata: { model: 'gpt-4-0613', cached: false } }))
      .then([
        {
          type: 'CreditsUsed',
          schemaVersion: 1,
          data: {
            accountId: 'acc-1',
            commandId: 'u1',
            requestHash: 'hash-u1',
            occurredAt: MAR_2,
            usageId: 'usage-u1',
            service: 'gpt-4',
            unit: 'token',
            quantity: 1500,
            rateCardVersion: '2025-01',
            unitPriceMillicredits: 60_000,
            per: 1000,
            chargedMillicredits: 90_000,
            draws: [{ lotId: 'lot-p1', millicredits: 90_000 }],
            metadata: { model: 'gpt-4-0613', cached: false },
          },
        },
      ]);
    expect(after.balanceMillicredits).toBe(10_000);
    expect(after.totalUsedMillicredits).toBe(90_000);
    expect(after.lots).toEqual([{ lotId: 'lot-p1', source: 'purchase', remainingMillicredits: 10_000, expiresAt: null, sequence: 0 }]);
  });

  it.each([
    ['gpt-4', 1500, 90_000],
    ['gpt-4', 1, 60],
    ['voice_call', 61, 1017],
    ['voice_call', 60, 1000],
    ['voice_call', 1, 17],
    ['sms', 1, 1000],
    ['whatsapp', 3, 3000],
    ['ai_response', 2, 4000],
    ['gpt-3.5', 1, 2],
    ['gpt-3.5', 1001, 2002],
    ['gemini-pro', 1, 1],
    ['gemini-pro', 1501, 1501],
    ['claude', 333, 666],
    ['document_upload', 2, 10_000],
    ['bundle_creation', 1, 50_000],
    ['phone_number', 1, 100_000],
  ])('%s × %i is charged %i millicredits', (service, quantity, charged) => {
    given([purchased('p1', MAR_1, 1_000_000)])
      .when(useCredits('u1', MAR_2, service, quantity))
      .then([used('u1', MAR_2, service, quantity, charged, [draw('p1', charged)])]);
  });

  it('records the version and unit price of the card it was charged at, and a replay never re-prices it', () => {
    const repriced: AppliedRate = { rateCardVersion: '2025-07', unit: 'token', unitPriceMillicredits: 30_000, per: 1000 };
    const event = used('u1', MAR_2, 'gpt-4', 1500, 45_000, [draw('p1', 45_000)], repriced);
    given([purchased('p1', MAR_1, 100_000)]).when(useCredits('u1', MAR_2, 'gpt-4', 1500, { rate: repriced })).then([event]);
    const { state } = given([purchased('p1', MAR_1, 100_000), event]);
    expect(state.totalUsedMillicredits).toBe(45_000);
    expect(state.balanceMillicredits).toBe(55_000);
  });

  it('may spend the whole balance, leaving no lot behind', () => {
    const after = given([purchased('p1', MAR_1, 90_000)])
      .when(useCredits('u1', MAR_2, 'gpt-4', 1500))
      .then([used('u1', MAR_2, 'gpt-4', 1500, 90_000, [draw('p1', 90_000)])]);
    expect(after.balanceMillicredits).toBe(0);
    expect(after.lots).toEqual([]);
  });

  it('is refused with insufficient_credits naming the charge and what is spendable', () => {
    given([purchased('p1', MAR_1, 1000)])
      .when(useCredits('u1', MAR_2, 'gpt-4', 1500))
      .thenRejected('insufficient_credits', { requiredMillicredits: 90_000, availableMillicredits: 1000 });
  });

  it('is refused for a service the rate card in force does not price, before the funds check', () => {
    given([]).when(useCredits('u0', MAR_2, 'teleport', 1, { rate: null })).thenRejected('unknown_service');
  });

  it('is refused on a never-seen account', () => {
    given([]).when(useCredits('u1', MAR_1, 'sms', 1)).thenRejected('insufficient_credits', {
      requiredMillicredits: 1000,
      availableMillicredits: 0,
    });
  });

  it('is refused by one millicredit', () => {
    given([purchased('p1', MAR_1, 89_999)])
      .when(useCredits('u1', MAR_2, 'gpt-4', 1500))
      .thenRejected('insufficient_credits', { requiredMillicredits: 90_000, availableMillicredits: 89_999 });
  });

  it('is refused with amount_out_of_range when the charge leaves the safe-integer range, before insufficient_credits', () => {
    given([]).when(useCredits('u1', MAR_1, 'gpt-4', MAX)).thenRejected('amount_out_of_range');
    given([purchased('p1', MAR_1, 1000)]).when(meter('u1', MAR_2, MAX)).thenRejected('insufficient_credits', {
      requiredMillicredits: MAX,
      availableMillicredits: 1000,
    });
  });

  it.each([1.5, 0, -1, Number.NaN, MAX + 1])('crashes on quantity %d: a programmer error, not an outcome', (quantity) => {
    given([purchased('p1', MAR_1, 100_000)]).when(useCredits('u1', MAR_2, 'sms', quantity)).thenCrashes();
  });
});

describe('expired lots', () => {
  const history = [purchased('p1', MAR_1, 2000), granted('g1', MAR_1, 5000, APR_1)];

  it('are spendable until the instant before they expire', () => {
    const justBefore = plusMs(APR_1, -1);
    given(history).when(useCredits('u1', justBefore, 'sms', 3)).then([used('u1', justBefore, 'sms', 3, 3000, [draw('g1', 3000)])]);
  });

  it('are not spendable at their expiry', () => {
    given(history).when(useCredits('u1', APR_1, 'sms', 3)).thenRejected('insufficient_credits', {
      requiredMillicredits: 3000,
      availableMillicredits: 2000,
    });
  });

  it('are skipped by a spend after their expiry, and stay on the books until expired', () => {
    const after = given(history)
      .when(useCredits('u1', JUN_1, 'sms', 2))
      .then([used('u1', JUN_1, 'sms', 2, 2000, [draw('p1', 2000)])]);
    expect(after.balanceMillicredits).toBe(5000);
    expect(after.lots.map((lot) => lot.lotId)).toEqual(['lot-g1']);
    expect(spendableMillicredits(after, JUN_1)).toBe(0);
    expect(spendableMillicredits(after, MAR_2)).toBe(5000);
  });
});

describe('burn order', () => {
  it('burns the soonest-expiring lot first, then grants before purchases', () => {
    const after = given([
      purchased('p1', MAR_1, 10_000),
      granted('g-late', MAR_1, 2000, JUN_1),
      granted('g-soon', MAR_1, 3000, APR_1),
      granted('g-never', MAR_1, 4000, null),
    ])
      .when(useCredits('u1', MAR_2, 'document_upload', 2))
      .then([
        used('u1', MAR_2, 'document_upload', 2, 10_000, [
          draw('g-soon', 3000),
          draw('g-late', 2000),
          draw('g-never', 4000),
          draw('p1', 1000),
        ]),
      ]);
    expect(after.lots).toEqual([{ lotId: 'lot-p1', source: 'purchase', remainingMillicredits: 9000, expiresAt: null, sequence: 0 }]);
  });

  it('burns grants before adjustments before purchases, then the oldest first', () => {
    const after = given([
      purchased('p1', MAR_1, 5000),
      adjusted('a1', MAR_1, 4000),
      granted('g1', MAR_1, 3000, null),
      purchased('p2', MAR_1, 2000),
      granted('g2', MAR_1, 1000, null),
      adjusted('a2', MAR_1, 6000),
    ])
      .when(useCredits('u1', MAR_2, 'sms', 15))
      .then([
        used('u1', MAR_2, 'sms', 15, 15_000, [
          draw('g1', 3000),
          draw('g2', 1000),
          draw('a1', 4000),
          draw('a2', 6000),
          draw('p1', 1000),
        ]),
      ]);
    expect(after.lots.map((lot) => [lot.lotId, lot.remainingMillicredits])).toEqual([
      ['lot-p1', 4000],
      ['lot-p2', 2000],
    ]);
  });

  it('burns the older of two lots expiring at the same instant first', () => {
    given([granted('g-old', MAR_1, 1000, APR_1), granted('g-new', MAR_2, 1000, APR_1)])
      .when(useCredits('u1', MAR_3, 'sms', 1))
      .then([used('u1', MAR_3, 'sms', 1, 1000, [draw('g-old', 1000)])]);
  });

  it('orders lots by expiry, then source, then creation', () => {
    const lot = (lotId: string, source: Lot['source'], expiresAt: string | null, sequence: number): Lot => ({
      lotId,
      source,
      remainingMillicredits: 1,
      expiresAt,
      sequence,
    });
    const lots = [
      lot('purchase-0', 'purchase', null, 0),
      lot('adjustment-1', 'adjustment', null, 1),
      lot('grant-june-2', 'grant', JUN_1, 2),
      lot('grant-3', 'grant', null, 3),
      lot('grant-april-4', 'grant', APR_1, 4),
      lot('purchase-5', 'purchase', null, 5),
      lot('grant-april-6', 'grant', APR_1, 6),
      lot('adjustment-7', 'adjustment', null, 7),
    ];
    expect([...lots].sort(burnOrder).map((entry) => entry.lotId)).toEqual([
      'grant-april-4',
      'grant-april-6',
      'grant-june-2',
      'grant-3',
      'adjustment-1',
      'adjustment-7',
      'purchase-0',
      'purchase-5',
    ]);
  });
});

describe('GrantCredits', () => {
  it('adds a granted lot with its expiry', () => {
    const after = given([])
      .when(grantCredits('g1', MAR_1, 5000, APR_1))
      .then([
        {
          type: 'CreditsGranted',
          schemaVersion: 1,
          data: {
            accountId: 'acc-1',
            commandId: 'g1',
            requestHash: 'hash-g1',
            occurredAt: MAR_1,
            lotId: 'lot-g1',
            creditsMillicredits: 5000,
            reason: 'promotion',
            expiresAt: APR_1,
            grantedBy: 'admin-1',
          },
        },
      ]);
    expect(after.lots).toEqual([{ lotId: 'lot-g1', source: 'grant', remainingMillicredits: 5000, expiresAt: APR_1, sequence: 0 }]);
    expect(after.totalGrantedMillicredits).toBe(5000);
    expect(after.totalPurchasedMillicredits).toBe(0);
    expect(after.balanceMillicredits).toBe(5000);
  });

  it('adds a lot that never expires', () => {
    const after = given([purchased('p1', MAR_1, 1000)])
      .when(grantCredits('g1', MAR_2, 2500, null))
      .then([granted('g1', MAR_2, 2500, null)]);
    expect(after.lots[1]).toEqual({ lotId: 'lot-g1', source: 'grant', remainingMillicredits: 2500, expiresAt: null, sequence: 1 });
  });

  it('accepts an expiry one millisecond ahead', () => {
    const soon = plusMs(MAR_1, 1);
    given([]).when(grantCredits('g1', MAR_1, 5000, soon)).then([granted('g1', MAR_1, 5000, soon)]);
  });

  it.each([
    ['at now', MAR_2],
    ['in the past', MAR_1],
  ])('is refused with invalid_expiry for an expiry %s', (_, expiresAt) => {
    const error = given([]).when(grantCredits('g1', MAR_2, 5000, expiresAt)).thenRejected('invalid_expiry');
    expect(error).toEqual({ code: 'invalid_expiry', expiresAt, now: MAR_2 });
  });

  it('is refused with amount_out_of_range when the balance would leave the safe-integer range', () => {
    const history = [granted('g0', MAR_1, MAX - 999, null)];
    given(history).when(grantCredits('g1', MAR_2, 1000, null)).thenRejected('amount_out_of_range');
    given(history).when(grantCredits('g1', MAR_2, 999, null)).then([granted('g1', MAR_2, 999, null)]);
  });

  it('refuses invalid_expiry before amount_out_of_range', () => {
    given([granted('g0', MAR_1, MAX, null)]).when(grantCredits('g1', MAR_2, 1000, MAR_1)).thenRejected('invalid_expiry');
  });

  it.each([0, -5, 1.5, MAX + 1])('crashes on %d millicredits', (millicredits) => {
    given([]).when(grantCredits('g1', MAR_1, millicredits, null)).thenCrashes();
  });
});

describe('AdjustCredits', () => {
  it('credits a positive correction as an adjustment lot, outside purchases and grants', () => {
    const after = given([purchased('p1', MAR_1, 1000)])
      .when(adjustCredits('a1', MAR_2, 2500))
      .then([
        {
          type: 'CreditsAdjusted',
          schemaVersion: 1,
          data: {
            accountId: 'acc-1',
            commandId: 'a1',
            requestHash: 'hash-a1',
            occurredAt: MAR_2,
            adjustmentId: 'lot-a1',
            creditsMillicredits: 2500,
            reason: 'correction',
            adjustedBy: 'admin-1',
            draws: [],
          },
        },
      ]);
    expect(after.balanceMillicredits).toBe(3500);
    expect(after.lots[1]).toEqual({ lotId: 'lot-a1', source: 'adjustment', remainingMillicredits: 2500, expiresAt: null, sequence: 1 });
    expect([after.totalPurchasedMillicredits, after.totalGrantedMillicredits, after.totalUsedMillicredits]).toEqual([1000, 0, 0]);
  });

  it('debits a negative correction from the lots in burn order, expired lots included', () => {
    const after = given([purchased('p1', MAR_1, 10_000), granted('g1', MAR_1, 3000, APR_1)])
      .when(adjustCredits('a1', JUN_1, -4000))
      .then([adjusted('a1', JUN_1, -4000, [draw('g1', 3000), draw('p1', 1000)])]);
    expect(after.balanceMillicredits).toBe(9000);
    expect(after.lots.map((lot) => [lot.lotId, lot.remainingMillicredits])).toEqual([['lot-p1', 9000]]);
    expect(after.totalUsedMillicredits).toBe(0);
  });

  it('may debit the whole balance', () => {
    const after = given([purchased('p1', MAR_1, 1000)])
      .when(adjustCredits('a1', MAR_2, -1000))
      .then([adjusted('a1', MAR_2, -1000, [draw('p1', 1000)])]);
    expect(after.balanceMillicredits).toBe(0);
    expect(after.lots).toEqual([]);
  });

  it('is refused with insufficient_credits when the debit exceeds the balance', () => {
    given([purchased('p1', MAR_1, 1000), granted('g1', MAR_1, 3000, APR_1)])
      .when(adjustCredits('a1', JUN_1, -5000))
      .thenRejected('insufficient_credits', { requiredMillicredits: 5000, availableMillicredits: 4000 });
  });

  it('is refused with amount_out_of_range when a credit would leave the safe-integer range', () => {
    const history = [adjusted('a0', MAR_1, MAX - 1)];
    given(history).when(adjustCredits('a1', MAR_2, 2)).thenRejected('amount_out_of_range');
    given(history).when(adjustCredits('a1', MAR_2, 1)).then([adjusted('a1', MAR_2, 1)]);
  });

  it('refuses a huge debit as insufficient_credits, as it does on an empty account', () => {
    // A debit lowers the balance and touches no running total: nothing can leave the range.
    given([]).when(adjustCredits('a1', MAR_2, -MAX)).thenRejected('insufficient_credits', {
      requiredMillicredits: MAX,
      availableMillicredits: 0,
    });
    given([purchased('p1', MAR_1, 1000)]).when(adjustCredits('a1', MAR_2, -MAX)).thenRejected('insufficient_credits', {
      requiredMillicredits: MAX,
      availableMillicredits: 1000,
    });
  });

  it.each([0, 0.5, -0.5, MAX + 1])('crashes on an adjustment of %d', (millicredits) => {
    given([purchased('p1', MAR_1, 1000)]).when(adjustCredits('a1', MAR_2, millicredits)).thenCrashes();
  });
});

describe('RecordPurchase', () => {
  it('adds a purchased lot that never expires', () => {
    const after = given([])
      .when(recordPurchase('cs_1', MAR_1, 100_000, { packageId: 'starter' }))
      .then([
        {
          type: 'CreditsPurchased',
          schemaVersion: 1,
          data: {
            accountId: 'acc-1',
            commandId: 'cs_1',
            requestHash: 'hash-cs_1',
            occurredAt: MAR_1,
            lotId: 'lot-cs_1',
            packageId: 'starter',
            creditsMillicredits: 100_000,
            priceCents: 1000,
            currency: 'usd',
            paymentReference: 'cs_cs_1',
            paymentIntentId: 'pi_cs_1',
            debtSettledMillicredits: 0,
          },
        },
      ]);
    expect(after.lots).toEqual([{ lotId: 'lot-cs_1', source: 'purchase', remainingMillicredits: 100_000, expiresAt: null, sequence: 0 }]);
    expect(after.totalPurchasedMillicredits).toBe(100_000);
    expect(after.balanceMillicredits).toBe(100_000);
  });

  it('is refused with amount_out_of_range when the balance would leave the safe-integer range', () => {
    const history = [purchased('p0', MAR_1, MAX - 1000)];
    given(history).when(recordPurchase('p1', MAR_2, 1001)).thenRejected('amount_out_of_range');
    given(history).when(recordPurchase('p1', MAR_2, 1000)).then([purchased('p1', MAR_2, 1000)]);
  });

  it.each([
    ['no credits', { creditsMillicredits: 0, priceCents: 1000, currency: 'usd' }],
    ['fractional credits', { creditsMillicredits: 0.5, priceCents: 1000, currency: 'usd' }],
  ])('crashes on a package with %s', (_, expected) => {
    given([]).when(recordPurchase('p1', MAR_1, 1000, { expected })).thenCrashes();
  });
});

describe('idempotency', () => {
  const AN_HOUR_LATER = plusMs(MAR_1, 3_600_000);
  const p0 = purchased('p0', MAR_1, 100_000);
  /** Each with what its record keeps of the event: only what a repeat is answered with. */
  const cases: ReadonlyArray<readonly [string, (now: string) => AccountCommand, AccountEvent, number, EventSummary]> = [
    [
      'UseCredits',
      (now) => useCredits('c1', now, 'sms', 2),
      used('c1', MAR_1, 'sms', 2, 2000, [draw('p0', 2000)]),
      98_000,
      { type: 'CreditsUsed', data: { usageId: 'usage-c1', service: 'sms', quantity: 2, chargedMillicredits: 2000 } },
    ],
    [
      'GrantCredits',
      (now) => grantCredits('c1', now, 5000, JUN_1),
      granted('c1', MAR_1, 5000, JUN_1),
      105_000,
      {
        type: 'CreditsGranted',
        data: { lotId: 'lot-c1', accountId: 'acc-1', creditsMillicredits: 5000, reason: 'promotion', expiresAt: JUN_1, grantedBy: 'admin-1' },
      },
    ],
    [
      'AdjustCredits +',
      (now) => adjustCredits('c1', now, 700),
      adjusted('c1', MAR_1, 700),
      100_700,
      { type: 'CreditsAdjusted', data: { adjustmentId: 'lot-c1', accountId: 'acc-1', creditsMillicredits: 700, reason: 'correction', adjustedBy: 'admin-1' } },
    ],
    [
      'AdjustCredits −',
      (now) => adjustCredits('c1', now, -700),
      adjusted('c1', MAR_1, -700, [draw('p0', 700)]),
      99_300,
      { type: 'CreditsAdjusted', data: { adjustmentId: 'lot-c1', accountId: 'acc-1', creditsMillicredits: -700, reason: 'correction', adjustedBy: 'admin-1' } },
    ],
    ['RecordPurchase', (now) => recordPurchase('c1', now, 5000), purchased('c1', MAR_1, 5000), 105_000, { type: 'CreditsPurchased', data: {} }],
  ];

  it.each(cases)('%s repeated with the same hash is replayed with its recorded outcome', (_, command, event, balanceAfter, summary) => {
    given([p0]).when(command(MAR_1)).then([event]);
    const record = given([p0, event, granted('g9', plusMs(MAR_1, 60_000), 1000, null)])
      .when(command(AN_HOUR_LATER))
      .thenReplayed();
    expect(record).toStrictEqual({
      commandId: 'c1',
      requestHash: 'hash-c1',
      recordedAt: MAR_1,
      event: summary,
      balanceAfterMillicredits: balanceAfter,
      availableAfterMillicredits: balanceAfter,
      position: 2,
    });
  });

  it.each(cases)('%s repeated with another hash is refused with idempotency_key_reused', (_, command, event) => {
    given([p0, event])
      .when({ ...command(AN_HOUR_LATER), requestHash: 'hash-other' })
      .thenRejected('idempotency_key_reused');
  });

  it('replays a spend even when it would now be refused', () => {
    given([purchased('p0', MAR_1, 2000), used('c1', MAR_1, 'sms', 2, 2000, [draw('p0', 2000)])])
      .when(useCredits('c1', AN_HOUR_LATER, 'sms', 2))
      .thenReplayed();
  });

  it('refuses a reused key before any other refusal', () => {
    const history = [p0, granted('c1', MAR_1, 5000, APR_1), used('c2', MAR_1, 'sms', 1, 1000, [draw('p0', 1000)])];
    given(history).when(grantCredits('c1', AN_HOUR_LATER, MAX, MAR_1, { requestHash: 'x' })).thenRejected('idempotency_key_reused');
    given(history).when(useCredits('c2', AN_HOUR_LATER, 'gpt-4', MAX, { requestHash: 'x' })).thenRejected('idempotency_key_reused');
  });

  describe('retention window', () => {
    const history = [p0, used('c1', MAR_1, 'sms', 2, 2000, [draw('p0', 2000)])];
    const edge = plusMs(MAR_1, RETENTION_MS);
    const past = plusMs(MAR_1, RETENTION_MS + 1);

    it('replays a repeat at the last instant of the window', () => {
      given(history).when(useCredits('c1', edge, 'sms', 2)).thenReplayed();
    });

    it('treats a repeat after the window as a new command', () => {
      given(history)
        .when(useCredits('c1', past, 'sms', 2))
        .then([used('c1', past, 'sms', 2, 2000, [draw('p0', 2000)])]);
    });

    it('accepts another hash after the window', () => {
      const event = used('c1', past, 'sms', 3, 3000, [draw('p0', 3000)]);
      const expected = { ...event, data: { ...event.data, requestHash: 'hash-new' } };
      given(history)
        .when(useCredits('c1', past, 'sms', 3, { requestHash: 'hash-new' }))
        .then([expected]);
    });

    it('forgets a command once a later event is past its window', () => {
      const pruned = given([...history, granted('g1', MAR_3, 1000, null)]);
      expect(pruned.state.commands.has('c1')).toBe(false);
      pruned
        .when(useCredits('c1', MAR_3, 'sms', 2))
        .then([used('c1', MAR_3, 'sms', 2, 2000, [draw('g1', 1000), draw('p0', 1000)])]);
    });
  });

  it('keeps no record of a refused command: its retry is decided afresh', () => {
    const command = useCredits('c1', MAR_2, 'sms', 1);
    given([]).when(command).thenRejected('insufficient_credits', { requiredMillicredits: 1000, availableMillicredits: 0 });
    given([purchased('p1', MAR_2, 1000)]).when(command).then([used('c1', MAR_2, 'sms', 1, 1000, [draw('p1', 1000)])]);
  });
});

describe('running totals stay safe integers', () => {
  const BIG = 2 ** 52 - 1;

  it.each([
    [
      'purchases and grants',
      [
        purchased('p1', MAR_1, BIG),
        used('u1', MAR_1, 'metered', BIG, BIG, [draw('p1', BIG)], METERED),
        granted('g1', MAR_1, BIG, null),
        used('u2', MAR_1, 'metered', BIG, BIG, [draw('g1', BIG)], METERED),
        purchased('p2', MAR_1, BIG),
      ],
      BIG,
    ],
    [
      'adjustments',
      [adjusted('a1', MAR_1, MAX), used('u1', MAR_1, 'metered', MAX, MAX, [draw('a1', MAX)], METERED), adjusted('a2', MAR_1, 1)],
      1,
    ],
  ] as const)(
    'refuses a spend that would take totalUsed past MAX_SAFE_INTEGER after %s, rather than accept an event evolve cannot apply',
    (_, history, quantity) => {
      given(history).when(meter('u9', MAR_2, quantity)).thenRejected('amount_out_of_range');
    },
  );

  it('decides against the state it is given, leaving it untouched', () => {
    const { state } = given([purchased('p1', MAR_1, 5000)]);
    const snapshot = structuredClone(state);
    decide(useCredits('u1', MAR_2, 'sms', 2), state, DEFAULT_OPTIONS);
    expect(state).toEqual(snapshot);
  });
});

describe('RefundPurchase and debt', () => {
  const bought = purchased('p1', MAR_1, 100_000);
  const refund = (commandId: string, now: string, refundedCentsTotal: number) => ({
    type: 'RefundPurchase' as const,
    accountId: 'acc-1',
    commandId,
    requestHash: `hash-${commandId}`,
    now,
    paymentIntentId: 'pi_p1',
    refundedCentsTotal,
  });

  it('takes back the refunded share from the purchase lot while its credits are unspent', () => {
    const event = given([bought]).when(refund('r1', MAR_2, 250)).then([
      {
        type: 'CreditsRefunded',
        schemaVersion: 1,
        data: {
          accountId: 'acc-1',
          commandId: 'r1',
          requestHash: 'hash-r1',
          occurredAt: MAR_2,
          paymentReference: 'cs_p1',
          refundedCentsTotal: 250,
          creditsMillicredits: 25_000,
          draws: [{ lotId: 'lot-p1', millicredits: 25_000 }],
          debtIncurredMillicredits: 0,
        },
      },
    ]);
    expect(event).toMatchObject({ balanceMillicredits: 75_000, debtMillicredits: 0 });
  });

  it('puts the account into debt for refunded credits already spent, refuses spends, and lets the next purchase pay it first', () => {
    const spentAll = used('u1', MAR_2, 'gpt-4', 1000, 60_000, [{ lotId: 'lot-p1', millicredits: 60_000 }]);
    const inDebt = given([bought, spentAll]).when(refund('r1', MAR_2, 1000)).then([
      {
        type: 'CreditsRefunded',
        schemaVersion: 1,
        data: {
          accountId: 'acc-1',
          commandId: 'r1',
          requestHash: 'hash-r1',
          occurredAt: MAR_2,
          paymentReference: 'cs_p1',
          refundedCentsTotal: 1000,
          creditsMillicredits: 100_000,
          draws: [{ lotId: 'lot-p1', millicredits: 40_000 }],
          debtIncurredMillicredits: 60_000,
        },
      },
      {
        // Falling below even a zero threshold (into debt) is a crossing too.
        type: 'LowBalanceReached',
        schemaVersion: 1,
        data: {
          accountId: 'acc-1',
          commandId: 'r1',
          requestHash: 'hash-r1',
          occurredAt: MAR_2,
          alertId: 'acc-1:r1:low-balance',
          thresholdMillicredits: 0,
          balanceMillicredits: -60_000,
          availableMillicredits: -60_000,
        },
      },
    ]);
    expect(inDebt).toMatchObject({ balanceMillicredits: -60_000, debtMillicredits: 60_000, lots: [] });
    expect(decide(useCredits('u2', MAR_2, 'sms', 1), inDebt, DEFAULT_OPTIONS)).toMatchObject({ status: 'rejected', error: { code: 'insufficient_credits' } });
    const next = decide(recordPurchase('p2', MAR_2, 100_000), inDebt, DEFAULT_OPTIONS);
    expect(next).toMatchObject({ status: 'accepted', events: [{ type: 'CreditsPurchased', data: { creditsMillicredits: 100_000, debtSettledMillicredits: 60_000 } }] });
  });

  it('removes nothing more for a repeated or older running total, and each later partial refund once', () => {
    const decided = decide(refund('r1', MAR_2, 500), given([bought]).state, DEFAULT_OPTIONS);
    if (decided.status !== 'accepted') throw new Error(`expected a refund, got ${decided.status}`);
    const first = given([bought, ...decided.events]).state;
    expect(decide(refund('r2', MAR_2, 500), first, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
    expect(decide(refund('r3', MAR_2, 300), first, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
    expect(decide(refund('r4', MAR_2, 1000), first, DEFAULT_OPTIONS)).toMatchObject({
      status: 'accepted',
      events: [{ data: { creditsMillicredits: 50_000, refundedCentsTotal: 1000 } }],
    });
  });

  it('is refused while the purchase it refunds is not recorded (Stripe delivers it again later)', () => {
    given([]).when(refund('r1', MAR_2, 1000)).thenRejected('purchase_not_found');
  });
});

describe('RecordPurchase exactly once', () => {
  it('leaves a session that was credited, or held, unchanged forever', () => {
    const bought = purchased('p1', MAR_1, 100_000);
    const later = plusMs(MAR_1, 10 * RETENTION_MS);
    expect(decide(recordPurchase('p1', later, 100_000), given([bought]).state, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
  });

  it('holds a session whose amount or currency does not match its package for review, crediting nothing', () => {
    const held = decide(recordPurchase('p1', MAR_1, 100_000, { paidCents: 999 }), given([]).state, DEFAULT_OPTIONS);
    expect(held).toMatchObject({ status: 'accepted', events: [{ type: 'PaymentHeldForReview', data: { paidCents: 999, expectedCents: 1000 } }] });
    const wrongCurrency = decide(recordPurchase('p2', MAR_1, 100_000, { paidCurrency: 'eur' }), given([]).state, DEFAULT_OPTIONS);
    expect(wrongCurrency).toMatchObject({ status: 'accepted', events: [{ type: 'PaymentHeldForReview', data: { paidCurrency: 'eur' } }] });
    const unknownPackage = decide(recordPurchase('p3', MAR_1, 100_000, { expected: null }), given([]).state, DEFAULT_OPTIONS);
    expect(unknownPackage).toMatchObject({ status: 'accepted', events: [{ type: 'PaymentHeldForReview', data: { expectedCents: null } }] });
  });
});

describe('refund of a payment held for review', () => {
  it('changes nothing: the payment was never credited', () => {
    const held = decide(recordPurchase('p1', MAR_1, 100_000, { paidCents: 1 }), given([]).state, DEFAULT_OPTIONS);
    if (held.status !== 'accepted') throw new Error(`expected a hold, got ${held.status}`);
    const state = given(held.events).state;
    const refund = { type: 'RefundPurchase' as const, accountId: 'acc-1', commandId: 'r1', requestHash: 'hash-r1', now: MAR_2, paymentIntentId: 'pi_p1', refundedCentsTotal: 1 };
    expect(decide(refund, state, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
  });
});

describe('reservations and expiry', () => {
  const envelope = (commandId: string, now: string) => ({ accountId: 'acc-1', commandId, requestHash: `hash-${commandId}`, now });
  const reserve = (commandId: string, now: string, quantity: number, expiresAt: string) => ({
    type: 'ReserveCredits' as const,
    ...envelope(commandId, now),
    reservationId: `rsv-${commandId}`,
    service: 'sms',
    quantity,
    rate: { rateCardVersion: 'v1', unit: 'message', unitPriceMillicredits: 1000, per: 1 },
    expiresAt,
  });
  const after = (events: readonly AccountEvent[], command: AccountCommand) => {
    const decision = decide(command, given(events).state, DEFAULT_OPTIONS);
    if (decision.status !== 'accepted') throw new Error(`expected acceptance, got ${JSON.stringify(decision)}`);
    return [...events, ...decision.events];
  };

  it('refuses a hold that does not fit and one that expires at once', () => {
    const base = [purchased('p1', MAR_1, 5000)];
    given(base).when(reserve('r1', MAR_2, 6, MAR_3)).thenRejected('insufficient_credits', { requiredMillicredits: 6000, availableMillicredits: 5000 });
    given(base).when(reserve('r1', MAR_2, 1, MAR_2)).thenRejected('invalid_expiry');
  });

  it('closes a reservation once: capture, then anything else is reservation_closed; an unknown one is not found', () => {
    const held = after([purchased('p1', MAR_1, 5000)], reserve('r1', MAR_1, 3, MAR_3));
    const captured = after(held, { type: 'CaptureReservation', ...envelope('c1', MAR_2), reservationId: 'rsv-r1', quantity: 2 });
    expect(given(captured).state).toMatchObject({ balanceMillicredits: 3000, reservedMillicredits: 0, totalUsedMillicredits: 2000 });
    given(captured).when({ type: 'ReleaseReservation', ...envelope('x1', MAR_2), reservationId: 'rsv-r1' }).thenRejected('reservation_closed');
    given(captured).when({ type: 'ReleaseReservation', ...envelope('x2', MAR_2), reservationId: 'rsv-none' }).thenRejected('reservation_not_found');
    given(held).when({ type: 'CaptureReservation', ...envelope('c2', MAR_3), reservationId: 'rsv-r1', quantity: 1 }).thenRejected('reservation_closed');
  });

  it('expires a reservation or a grant lot only when due, and only once', () => {
    const expiring = plusMs(MAR_1, 3_600_000);
    const base = after([granted('g1', MAR_1, 4000, expiring)], reserve('r1', MAR_1, 1, expiring));
    const early = { type: 'ExpireLot' as const, ...envelope('e1', MAR_1), lotId: 'lot-g1' };
    expect(decide(early, given(base).state, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
    const dueLot = { type: 'ExpireLot' as const, ...envelope('e2', expiring), lotId: 'lot-g1' };
    const lapsed = after(base, dueLot);
    expect(lapsed.find((event) => event.type === 'CreditsExpired')).toMatchObject({ data: { expiredMillicredits: 4000, lotId: 'lot-g1' } });
    expect(decide({ ...dueLot, commandId: 'e3' }, given(lapsed).state, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
    const dueHold = { type: 'ExpireReservation' as const, ...envelope('e4', expiring), reservationId: 'rsv-r1' };
    const released = after(lapsed, dueHold);
    expect(released.find((event) => event.type === 'ReservationReleased')).toMatchObject({ data: { reason: 'expired', releasedMillicredits: 1000 } });
    expect(decide({ ...dueHold, commandId: 'e5' }, given(released).state, DEFAULT_OPTIONS)).toEqual({ status: 'unchanged' });
  });
});

describe('low-balance alert', () => {
  const threshold = (commandId: string, thresholdMillicredits: number): AccountEvent => ({
    type: 'LowBalanceThresholdSet',
    schemaVersion: 1,
    data: { accountId: 'acc-1', commandId, requestHash: `hash-${commandId}`, occurredAt: MAR_1, thresholdMillicredits },
  });
  const spendTo = (events: readonly AccountEvent[], commandId: string, quantity: number): readonly AccountEvent[] => {
    const decision = decide(useCredits(commandId, MAR_2, 'sms', quantity), given(events).state, DEFAULT_OPTIONS);
    if (decision.status !== 'accepted') throw new Error(`expected a spend, got ${decision.status}`);
    return decision.events;
  };

  it('is raised once per downward crossing and re-armed when available rises above the threshold', () => {
    const start = [threshold('t1', 10_000), purchased('p1', MAR_1, 30_000)];
    const first = spendTo(start, 'u1', 25);
    expect(first.map((event) => event.type)).toEqual(['CreditsUsed', 'LowBalanceReached']);
    const below = [...start, ...first];
    expect(spendTo(below, 'u2', 1).map((event) => event.type)).toEqual(['CreditsUsed']);
    const toppedUp = [...below, purchased('p2', MAR_2, 100_000)];
    expect(given(toppedUp).state.lowBalanceArmed).toBe(true);
    expect(spendTo(toppedUp, 'u3', 100).map((event) => event.type)).toEqual(['CreditsUsed', 'LowBalanceReached']);
  });
});
