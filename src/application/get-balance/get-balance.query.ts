import { Query } from '@nestjs/cqrs';
import type { AccountState } from '../../domain/account.state';

export interface AccountBalanceView {
  readonly accountId: string;
  readonly state: AccountState;
  readonly position: number;
  readonly asOf: string;
}

/** The balance from the write model; the read-side issue moves it onto a projection. */
export class GetBalanceQuery extends Query<AccountBalanceView> {
  constructor(readonly accountId: string) {
    super();
  }
}
