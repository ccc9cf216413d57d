import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { AccountRepository } from '../accounts/account-repository';
import { CLOCK, type Clock } from '../clock.port';
import { GetBalanceQuery, type AccountBalanceView } from './get-balance.query';

@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery, AccountBalanceView> {
  constructor(
    private readonly accounts: AccountRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ accountId }: GetBalanceQuery): Promise<AccountBalanceView> {
    const { state, position } = await this.accounts.load(accountId);
    return { accountId, state, position, asOf: this.clock.now().toISOString() };
  }
}
