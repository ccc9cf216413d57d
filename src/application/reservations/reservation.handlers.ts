import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccountCommandExecutor, type CommandOutcome } from '../accounts/account-command-executor';
import { CatalogService } from '../catalog/catalog.service';
import { CLOCK, ID_GENERATOR, type Clock, type IdGenerator } from '../clock.port';
import { reservationIdFor } from './reservation-id';
import { CaptureReservationCommand, ExpireDueCommand, ReleaseReservationCommand, ReserveCreditsCommand } from './reservation.commands';

@CommandHandler(ReserveCreditsCommand)
export class ReserveCreditsHandler implements ICommandHandler<ReserveCreditsCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    private readonly catalog: CatalogService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  execute({ input }: ReserveCreditsCommand): Promise<CommandOutcome> {
    const now = this.clock.now();
    const { ttlSeconds, ...rest } = input;
    return this.executor.execute({
      type: 'ReserveCredits',
      reservationId: reservationIdFor(input.accountId, this.ids.next()),
      rate: this.catalog.findRate(input.service, now.toISOString()) ?? null,
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
      now: now.toISOString(),
      ...rest,
    });
  }
}

@CommandHandler(CaptureReservationCommand)
export class CaptureReservationHandler implements ICommandHandler<CaptureReservationCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  execute({ input }: CaptureReservationCommand): Promise<CommandOutcome> {
    return this.executor.execute({ type: 'CaptureReservation', now: this.clock.now().toISOString(), ...input });
  }
}

@CommandHandler(ReleaseReservationCommand)
export class ReleaseReservationHandler implements ICommandHandler<ReleaseReservationCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  execute({ input }: ReleaseReservationCommand): Promise<CommandOutcome> {
    return this.executor.execute({ type: 'ReleaseReservation', now: this.clock.now().toISOString(), ...input });
  }
}

@CommandHandler(ExpireDueCommand)
export class ExpireDueHandler implements ICommandHandler<ExpireDueCommand, CommandOutcome> {
  constructor(
    private readonly executor: AccountCommandExecutor,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  execute({ input }: ExpireDueCommand): Promise<CommandOutcome> {
    const { kind, refId, ...envelope } = input;
    const now = this.clock.now().toISOString();
    return this.executor.execute(
      kind === 'reservation'
        ? { type: 'ExpireReservation', ...envelope, reservationId: refId, now }
        : { type: 'ExpireLot', ...envelope, lotId: refId, now },
    );
  }
}
