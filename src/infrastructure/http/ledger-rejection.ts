import type { LedgerError } from '../../domain/ledger-error';

/** A command the domain refused: thrown by controllers, mapped to an API error by the filter. */
export class LedgerRejection extends Error {
  override readonly name = 'LedgerRejection';
  constructor(readonly error: LedgerError) {
    super(error.code);
  }
}
