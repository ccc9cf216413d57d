/** A package of credits sold through Stripe Checkout. */
export interface CreditPackage {
  readonly id: string;
  readonly name: string;
  readonly creditsMillicredits: number;
  readonly priceCents: number;
  readonly currency: string;
}
