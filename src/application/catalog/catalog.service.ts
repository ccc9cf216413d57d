import { Inject, Injectable } from '@nestjs/common';
import type { CreditPackage } from '../../domain/credit-package';
import { appliedRate, rateCardInForce, type AppliedRate, type RateCard } from '../../domain/rate-card';
import { LEDGER_SETTINGS, type LedgerSettings } from '../ledger-settings';

/** The packages on sale and the rate cards, as configured. */
@Injectable()
export class CatalogService {
  constructor(@Inject(LEDGER_SETTINGS) private readonly settings: LedgerSettings) {}

  packages(): readonly CreditPackage[] {
    return this.settings.packages;
  }

  findPackage(packageId: string): CreditPackage | undefined {
    return this.settings.packages.find((candidate) => candidate.id === packageId);
  }

  rateCardAt(at: string): RateCard {
    const card = rateCardInForce(this.settings.rateCards, at);
    if (card === undefined) throw new Error(`no rate card is in force at ${at}`);
    return card;
  }

  findRate(service: string, at: string): AppliedRate | undefined {
    return appliedRate(this.rateCardAt(at), service);
  }
}
