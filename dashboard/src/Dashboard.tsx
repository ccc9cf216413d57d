import { useEffect, useState } from 'react';
import type { LedgerClient } from '../../client/src/index';
import { useCredits } from '../../client/src/react';
import { credits, dateTime, errorText, subjectOf } from './format';
import { CostGuide, Packages, Reservations, SpendForm } from './sections';
import { Transactions } from './Transactions';
import { UsageChart } from './UsageChart';

const checkoutNotice = (): string | undefined => {
  const outcome = new URLSearchParams(window.location.search).get('checkout');
  if (outcome === 'success') return 'Payment complete. Your credits appear in the balance as soon as the payment is recorded.';
  if (outcome === 'cancelled') return 'Payment cancelled: nothing was charged.';
  return undefined;
};

interface DashboardProps {
  readonly client: LedgerClient;
  readonly token: string;
  readonly onSignOut: () => void;
}

export const Dashboard = ({ client, token, onSignOut }: DashboardProps) => {
  const [alerted, setAlerted] = useState(false);
  const credit = useCredits({ client, onLowBalance: () => setAlerted(true) });
  const { balance, rateCard, loading, error, stream } = credit;
  const [notice, setNotice] = useState(checkoutNotice);
  const position = balance?.position ?? 0;

  useEffect(() => {
    // The notice is shown once; a reload should not repeat it.
    if (notice !== undefined) window.history.replaceState(null, '', window.location.pathname);
  }, [notice]);

  // The balance says whether it is low now; a `low_balance` message only arrives before the balance that shows it.
  const low = balance?.lowBalance ?? alerted;
  const unauthorized = error !== undefined && 'code' in error && (error.code === 'unauthenticated' || error.code === 'forbidden');

  return (
    <>
      <header className="top">
        <h1>Credits</h1>
        <p className="who">
          Signed in as <strong>{balance?.accountId ?? subjectOf(token) ?? 'unknown'}</strong>
        </p>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="grid">
        {notice !== undefined && (
          <p role="status" className="notice wide">
            {notice}{' '}
            <button type="button" className="link" onClick={() => setNotice(undefined)}>
              Dismiss
            </button>
          </p>
        )}
        {error !== undefined && (
          <p role="alert" className="error wide">
            {unauthorized ? 'This token was refused: sign out and sign in with a valid one. ' : 'Something went wrong: '}
            {errorText(error)}
          </p>
        )}
        {low && balance !== undefined && (
          <p role="alert" className="banner wide" data-testid="low-balance">
            Low balance: {credits(balance.available)} credits available, below your alert threshold of {credits(balance.lowBalanceThreshold)}. Buy a
            package below to keep your services running.
          </p>
        )}
        <section className="card balance" aria-labelledby="balance-title">
          <h2 id="balance-title">Balance</h2>
          <p className="amount" aria-live="polite" aria-atomic="true" data-testid="balance">
            {loading && balance === undefined ? 'Loading…' : balance === undefined ? '—' : `${credits(balance.available)} credits`}
          </p>
          <p className="hint">available to spend</p>
          {balance !== undefined && (
            <dl className="facts">
              <dt>Balance</dt>
              <dd>{credits(balance.balance)}</dd>
              <dt>Held by reservations</dt>
              <dd>{credits(balance.reserved)}</dd>
              <dt>Purchased</dt>
              <dd>{credits(balance.totalPurchased)}</dd>
              <dt>Granted</dt>
              <dd>{credits(balance.totalGranted)}</dd>
              <dt>Used</dt>
              <dd data-testid="total-used">{credits(balance.totalUsed)}</dd>
              <dt>Expiring within 7 days</dt>
              <dd>{credits(balance.expiringWithin7Days)}</dd>
              <dt>Spending per hour</dt>
              <dd>{credits(balance.burnRatePerHour)}</dd>
              <dt>Runs out</dt>
              <dd>{balance.estimatedDepletionAt === null ? 'not at the current rate' : dateTime(balance.estimatedDepletionAt)}</dd>
            </dl>
          )}
          <p className="live" data-state={stream}>
            {stream === 'open' ? 'Live' : stream === 'reconnecting' ? 'Reconnecting…' : stream === 'connecting' ? 'Connecting…' : 'Not live'}
          </p>
        </section>
        <Packages client={client} />
        <SpendForm credit={credit} />
        <UsageChart client={client} position={position} />
        <Transactions client={client} position={position} />
        <Reservations client={client} rateCard={rateCard} position={position} onChange={(next) => void credit.refresh(next)} />
        <CostGuide rateCard={rateCard} />
      </main>
    </>
  );
};
