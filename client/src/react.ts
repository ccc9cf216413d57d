import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { LedgerClient, StreamStatus, WriteOptions } from './client';
import { LedgerClientError, type LedgerApiError, type LedgerNetworkError } from './errors';
import { chargeMillicredits, parseMillicredits } from './money';
import type { Balance, LowBalanceAlert, RateCard, UseCreditsResult } from './types';

export interface UseCreditsOptions {
  readonly client: LedgerClient;
  /** For service/admin tokens: the account to show (a user token shows its own). */
  readonly accountId?: string;
  /** Follow the live balance stream (default true). */
  readonly live?: boolean;
  /** Called on each `low_balance` message of the stream. */
  readonly onLowBalance?: (alert: LowBalanceAlert) => void;
}

export interface CreditsState {
  readonly balance: Balance | undefined;
  readonly rateCard: RateCard | undefined;
  readonly loading: boolean;
  readonly error: LedgerApiError | LedgerNetworkError | Error | undefined;
  /** The live stream's state ('closed' when `live` is false). */
  readonly stream: StreamStatus;
  readonly lowBalance: boolean;
  /** Spends credits, then refreshes the balance to at least the spend's position. */
  use(service: string, quantity: number, options?: WriteOptions & { metadata?: Readonly<Record<string, string | number | boolean>> }): Promise<UseCreditsResult>;
  /** Synchronous check against the loaded rate card and balance: false until both are loaded, or for an unknown service. */
  hasEnoughCredits(service: string, quantity: number): boolean;
  refresh(minPosition?: number): Promise<void>;
}

const newer = (current: Balance | undefined, next: Balance): Balance => (current === undefined || next.position >= current.position ? next : current);

/** The account's credits for a React component: balance, rate card, live updates and spending. */
export const useCredits = ({ client, accountId, live = true, onLowBalance }: UseCreditsOptions): CreditsState => {
  const [balance, setBalance] = useState<Balance | undefined>(undefined);
  const [rateCard, setRateCard] = useState<RateCard | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<CreditsState['error']>(undefined);
  const [stream, setStream] = useState<StreamStatus>(live ? 'connecting' : 'closed');
  const lowBalanceHandler = useRef(onLowBalance);
  lowBalanceHandler.current = onLowBalance;
  const account = accountId === undefined ? {} : { accountId };

  const refresh = useCallback(
    async (minPosition?: number) => {
      try {
        const next = await client.getBalance({ ...account, ...(minPosition === undefined ? {} : { minPosition }) });
        setBalance((current) => newer(current, next));
        setError(undefined);
      } catch (caught) {
        setError(caught as Error);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, accountId],
  );

  useEffect(() => {
    let active = true;
    setLoading(true);
    setBalance(undefined);
    Promise.all([client.getBalance(account), client.getPricing()])
      .then(([first, card]) => {
        if (!active) return;
        setBalance((current) => newer(current, first));
        setRateCard(card);
        setError(undefined);
      })
      .catch((caught: Error) => active && setError(caught))
      .finally(() => active && setLoading(false));
    const subscription = live
      ? client.subscribe(
          {
            onBalance: (next) => active && setBalance((current) => newer(current, next)),
            onLowBalance: (alert) => lowBalanceHandler.current?.(alert),
            onStatus: (status) => active && setStream(status),
            onError: (caught) => active && caught.name === 'LedgerApiError' && setError(caught),
          },
          account,
        )
      : undefined;
    return () => {
      active = false;
      subscription?.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, accountId, live]);

  const use = useCallback<CreditsState['use']>(
    async (service, quantity, options = {}) => {
      const result = await client.use(service, quantity, { ...options, ...account });
      await refresh(result.position);
      return result;
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, accountId, refresh],
  );

  const hasEnoughCredits = useCallback(
    (service: string, quantity: number): boolean => {
      const rate = rateCard?.services.find((candidate) => candidate.service === service);
      if (rate === undefined || balance === undefined) return false;
      try {
        return chargeMillicredits(rate, quantity) <= parseMillicredits(balance.available);
      } catch (caught) {
        if (caught instanceof LedgerClientError) return false;
        throw caught;
      }
    },
    [rateCard, balance],
  );

  return useMemo(
    () => ({ balance, rateCard, loading, error, stream, lowBalance: balance?.lowBalance ?? false, use, hasEnoughCredits, refresh }),
    [balance, rateCard, loading, error, stream, use, hasEnoughCredits, refresh],
  );
};
