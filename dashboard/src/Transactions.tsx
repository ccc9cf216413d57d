import { useEffect, useState } from 'react';
import { TRANSACTION_TYPES, type LedgerClient, type TransactionPage, type TransactionType } from '../../client/src/index';
import { credits, dateTime, errorText } from './format';

const PAGE_SIZE = 10;

/** History, newest first, a page at a time: "Older" follows nextCursor, "Newer" goes back. */
export const Transactions = ({ client, position }: { client: LedgerClient; position: number }) => {
  const [type, setType] = useState<TransactionType | ''>('');
  // The cursors of the pages before the current one; the last entry is the current page's.
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [page, setPage] = useState<TransactionPage | undefined>(undefined);
  const [error, setError] = useState('');
  const cursor = cursors[cursors.length - 1];
  const pageNumber = cursors.length;

  useEffect(() => {
    let active = true;
    client
      .getTransactions({ limit: PAGE_SIZE, minPosition: position, ...(type === '' ? {} : { type }), ...(cursor === undefined ? {} : { cursor }) })
      .then(
        (next) => active && (setPage(next), setError('')),
        (caught: unknown) => active && setError(errorText(caught)),
      );
    return () => {
      active = false;
    };
    // Older pages do not change when new entries arrive; only the first page follows the balance.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, type, cursor, pageNumber === 1 ? position : 0]);

  return (
    <section className="card wide" aria-labelledby="history-title">
      <h2 id="history-title">Transactions</h2>
      <div className="inline-form">
        <label htmlFor="history-type">Type</label>
        <select
          id="history-type"
          value={type}
          onChange={(event) => {
            setType(event.target.value as TransactionType | '');
            setCursors([undefined]);
          }}
        >
          <option value="">all</option>
          {TRANSACTION_TYPES.map((candidate) => (
            <option key={candidate} value={candidate}>
              {candidate}
            </option>
          ))}
        </select>
      </div>
      {error !== '' && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="scroll">
        <table data-testid="transactions">
          <caption className="hint">Page {pageNumber}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Type</th>
              <th scope="col">What</th>
              <th scope="col" className="number">
                Credits
              </th>
              <th scope="col" className="number">
                Balance after
              </th>
            </tr>
          </thead>
          <tbody>
            {page?.items.length === 0 && (
              <tr>
                <td colSpan={5}>No transactions{type === '' ? '' : ` of type ${type}`} yet.</td>
              </tr>
            )}
            {page?.items.map((item) => (
              <tr key={item.id}>
                <td>{dateTime(item.occurredAt)}</td>
                <td>{item.type}</td>
                <td>{item.description}</td>
                <td className={`number ${item.credits.startsWith('-') ? 'debit' : 'credit'}`}>{credits(item.credits)}</td>
                <td className="number">{credits(item.balanceAfter)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Transaction pages">
        <button type="button" className="secondary" disabled={pageNumber === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button
          type="button"
          className="secondary"
          disabled={page?.nextCursor == null}
          onClick={() => page?.nextCursor != null && setCursors([...cursors, page.nextCursor])}
        >
          Older
        </button>
      </nav>
    </section>
  );
};
