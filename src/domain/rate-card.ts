import { chargeMillicredits } from './money';

/** One line of the rate card: `per` units of `unit` cost `priceMillicredits`. */
export interface ServiceRate {
  readonly service: string;
  readonly unit: string;
  readonly priceMillicredits: number;
  readonly per: number;
  readonly description: string;
}

/** A rate card is versioned configuration; usage events record the version they were charged at. */
export interface RateCard {
  readonly version: string;
  readonly effectiveFrom: string;
  readonly services: readonly ServiceRate[];
}

/** The price a usage is charged at, as the usage event records it. */
export interface AppliedRate {
  readonly rateCardVersion: string;
  readonly unit: string;
  readonly unitPriceMillicredits: number;
  readonly per: number;
}

/** The card in force at `at`: the latest whose effectiveFrom is not after it. */
export const rateCardInForce = (cards: readonly RateCard[], at: string): RateCard | undefined => {
  const instant = Date.parse(at);
  return cards
    .filter((card) => Date.parse(card.effectiveFrom) <= instant)
    .reduce<RateCard | undefined>(
      (latest, card) => (latest === undefined || Date.parse(card.effectiveFrom) > Date.parse(latest.effectiveFrom) ? card : latest),
      undefined,
    );
};

export const appliedRate = (card: RateCard, service: string): AppliedRate | undefined => {
  const rate = card.services.find((entry) => entry.service === service);
  return rate === undefined
    ? undefined
    : { rateCardVersion: card.version, unit: rate.unit, unitPriceMillicredits: rate.priceMillicredits, per: rate.per };
};

export const priceOf = (rate: AppliedRate, quantity: number): number | null =>
  chargeMillicredits(quantity, rate.unitPriceMillicredits, rate.per);
