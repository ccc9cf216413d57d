import type { AccountEvent, AccountEventType } from './account.events';

type DataOf<Type extends AccountEventType> = Extract<AccountEvent, { type: Type }>['data'];
type Part<Type extends AccountEventType, Field extends keyof DataOf<Type>> = {
  readonly type: Type;
  readonly data: Pick<DataOf<Type>, Field>;
};

/** Events no answer is rendered from: their records keep only the type. */
type Unanswered = 'CreditsPurchased' | 'CreditsRefunded' | 'PaymentHeldForReview' | 'CreditsExpired' | 'LowBalanceReached';

/**
 * What a command record keeps of its command's first event: the type and the fields a
 * repeat of the command is answered with, nothing else. A busy service keeps one record
 * per command inside the idempotency window (until a snapshot archives them), and every
 * major GC marks them; the whole event, with its draws, metadata and rate, is in the log.
 * `npm run bench:records`: 952 bytes per spend's record kept whole, 559 summarized.
 *
 * It has the event's own shape (`{ type, data }`, the data a subset of the event's), so
 * an archived record reads the same to a process that kept whole events.
 */
export type EventSummary =
  | Part<'CreditsUsed', 'usageId' | 'service' | 'quantity' | 'chargedMillicredits'>
  | Part<'CreditsGranted', 'lotId' | 'accountId' | 'creditsMillicredits' | 'reason' | 'expiresAt' | 'grantedBy'>
  | Part<'CreditsAdjusted', 'adjustmentId' | 'accountId' | 'creditsMillicredits' | 'reason' | 'adjustedBy'>
  | Part<'CreditsReserved', 'reservationId' | 'service' | 'quantity' | 'reservedMillicredits' | 'expiresAt'>
  | Part<'ReservationCaptured', 'reservationId' | 'service' | 'quantity' | 'chargedMillicredits' | 'releasedMillicredits'>
  | Part<'ReservationReleased', 'reservationId' | 'releasedMillicredits'>
  | Part<'LowBalanceThresholdSet', 'accountId' | 'thresholdMillicredits'>
  | { readonly [Type in Unanswered]: Part<Type, never> }[Unanswered];

/** The summary of an event: each case one object literal, so every summary of a type shares one shape. */
export const summarizeEvent = (event: AccountEvent | EventSummary): EventSummary => {
  switch (event.type) {
    case 'CreditsUsed': {
      const { usageId, service, quantity, chargedMillicredits } = event.data;
      return { type: event.type, data: { usageId, service, quantity, chargedMillicredits } };
    }
    case 'CreditsGranted': {
      const { lotId, accountId, creditsMillicredits, reason, expiresAt, grantedBy } = event.data;
      return { type: event.type, data: { lotId, accountId, creditsMillicredits, reason, expiresAt, grantedBy } };
    }
    case 'CreditsAdjusted': {
      const { adjustmentId, accountId, creditsMillicredits, reason, adjustedBy } = event.data;
      return { type: event.type, data: { adjustmentId, accountId, creditsMillicredits, reason, adjustedBy } };
    }
    case 'CreditsReserved': {
      const { reservationId, service, quantity, reservedMillicredits, expiresAt } = event.data;
      return { type: event.type, data: { reservationId, service, quantity, reservedMillicredits, expiresAt } };
    }
    case 'ReservationCaptured': {
      const { reservationId, service, quantity, chargedMillicredits, releasedMillicredits } = event.data;
      return { type: event.type, data: { reservationId, service, quantity, chargedMillicredits, releasedMillicredits } };
    }
    case 'ReservationReleased': {
      const { reservationId, releasedMillicredits } = event.data;
      return { type: event.type, data: { reservationId, releasedMillicredits } };
    }
    case 'LowBalanceThresholdSet': {
      const { accountId, thresholdMillicredits } = event.data;
      return { type: event.type, data: { accountId, thresholdMillicredits } };
    }
    case 'CreditsPurchased':
    case 'CreditsRefunded':
    case 'PaymentHeldForReview':
    case 'CreditsExpired':
    case 'LowBalanceReached':
      return { type: event.type, data: {} };
    default:
      return unknownType(event);
  }
};

const unknownType = (event: never): never => {
  throw new Error(`no summary for an event of type ${(event as { type: string }).type}`);
};
