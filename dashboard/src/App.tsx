import { useMemo, useState } from 'react';
import { createLedgerClient } from '../../client/src/index';
import { Dashboard } from './Dashboard';
import { SignIn } from './SignIn';

const TOKEN_KEY = 'credit-ledger.token';

export const App = () => {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? '');
  const client = useMemo(() => (token === '' ? undefined : createLedgerClient({ baseUrl: window.location.origin, token })), [token]);
  const signIn = (next: string) => {
    sessionStorage.setItem(TOKEN_KEY, next);
    setToken(next);
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken('');
  };
  return client === undefined ? <SignIn onSignIn={signIn} /> : <Dashboard client={client} token={token} onSignOut={signOut} />;
};
