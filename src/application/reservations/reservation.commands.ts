import { Command } from '@nestjs/cqrs';
import type { CommandOutcome } from '../accounts/account-command-executor';
import type { CommandInput } from '../accounts/command-input';

export class ReserveCreditsCommand extends Command<CommandOutcome> {
  constructor(readonly input: CommandInput & { readonly service: string; readonly quantity: number; readonly ttlSeconds: number }) {
    super();
  }
}

export class CaptureReservationCommand extends Command<CommandOutcome> {
  constructor(readonly input: CommandInput & { readonly reservationId: string; readonly quantity: number }) {
    super();
  }
}

export class ReleaseReservationCommand extends Command<CommandOutcome> {
  constructor(readonly input: CommandInput & { readonly reservationId: string }) {
    super();
  }
}

/** From the expiry schedule: the due reservation or grant lot, closed at the schedule's now. */
export class ExpireDueCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: CommandInput & { readonly kind: 'reservation' | 'lot'; readonly refId: string },
  ) {
    super();
  }
}
