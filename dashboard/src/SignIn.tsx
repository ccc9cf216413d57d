import { useState, type FormEvent } from 'react';
import { errorText } from './format';

const devTokensEnabled = (): boolean => document.querySelector('meta[name="ledger-dev-tokens"]')?.getAttribute('content') === 'enabled';

const ROLES = ['user', 'service', 'admin', 'auditor'] as const;

export const SignIn = ({ onSignIn }: { onSignIn: (token: string) => void }) => {
  const [token, setToken] = useState('');
  const [sub, setSub] = useState(() => `dev-user-${Math.random().toString(36).slice(2, 8)}`);
  const [role, setRole] = useState<(typeof ROLES)[number]>('user');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = token.trim().replace(/^Bearer\s+/i, '');
    if (trimmed.split('.').length !== 3) {
      setError('That does not look like a token (a JWT has three dot-separated parts).');
      return;
    }
    onSignIn(trimmed);
  };

  const devToken = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const response = await fetch('/api/dev/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub, role }),
      });
      const body = (await response.json()) as { token?: string; message?: string };
      if (!response.ok || body.token === undefined) throw new Error(body.message ?? `HTTP ${response.status}`);
      onSignIn(body.token);
    } catch (caught) {
      setError(`Could not get a development token: ${errorText(caught)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <h1>Credits dashboard</h1>
      <form onSubmit={submit} className="card" aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        <label htmlFor="token">Access token</label>
        <textarea
          id="token"
          name="token"
          rows={4}
          value={token}
          onChange={(event) => setToken(event.target.value)}
          autoComplete="off"
          spellCheck={false}
          aria-describedby="token-help"
          required
        />
        <p id="token-help" className="hint">
          Paste the bearer token (JWT) your app signs you in with. It is kept in this tab only (session storage).
        </p>
        <button type="submit">Sign in</button>
      </form>
      {devTokensEnabled() && (
        <form onSubmit={devToken} className="card dev" aria-labelledby="dev-title">
          <h2 id="dev-title">Development</h2>
          <p className="hint">This service runs on its development secret, so it can mint a token for any account.</p>
          <label htmlFor="dev-sub">Account id</label>
          <input id="dev-sub" value={sub} onChange={(event) => setSub(event.target.value)} required />
          <label htmlFor="dev-role">Role</label>
          <select id="dev-role" value={role} onChange={(event) => setRole(event.target.value as (typeof ROLES)[number])}>
            {ROLES.map((candidate) => (
              <option key={candidate} value={candidate}>
                {candidate}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy}>
            Get a development token
          </button>
        </form>
      )}
      {error !== '' && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </main>
  );
};
