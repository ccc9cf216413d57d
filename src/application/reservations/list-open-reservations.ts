import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { Reservation } from '../../domain/account.state';
import { AccountRepository } from '../accounts/account-repository';
import { CLOCK, type Clock } from '../clock.port';

export interface OpenReservations {
  readonly accountId: string;
  /** The instant the list holds for: nothing in it expires at or before then. */
  readonly asOf: string;
  /** Soonest-expiring first. */
  readonly items: readonly Reservation[];
}

/**
 * The account's reservations that can still be captured or released: open, and not past
 * `expiresAt` now. Read from the write side's state (the event log), not a read model, so
 * a hold appears as soon as its command has answered, and one the expiry schedule has not
 * closed yet is left out all the same.
 */
export class ListOpenReservationsQuery extends Query<OpenReservations> {
  constructor(readonly accountId: string) {
    super();
  }
}

@QueryHandler(ListOpenReservationsQuery)
export class ListOpenReservationsHandler implements IQueryHandler<ListOpenReservationsQuery, OpenReservations> {
  constructor(
    private readonly accounts: AccountRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId }: ListOpenReservationsQuery): Promise<OpenReservations> {
    const { state } = await this.accounts.load(accountId);
    const now = this.clock.now();
    return { accountId, asOf: now.toISOString(), items: openAt([...state.reservations.values()], now.getTime()) };
  }
}

/** Open and still in force at `nowMs` (the decider refuses a capture at `expiresAt` itself), soonest-expiring first. */
const openAt = (reservations: readonly Reservation[], nowMs: number): Reservation[] =>
  reservations
    .filter((reservation) => reservation.status === 'open' && Date.parse(reservation.expiresAt) > nowMs)
    .sort((a, b) => Date.parse(a.expiresAt) - Date.parse(b.expiresAt) || (a.reservationId < b.reservationId ? -1 : a.reservationId > b.reservationId ? 1 : 0));
