import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedgerClient } from '../../client/src/index';
import { startLedger, storageTargets, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const postDevToken = (ledger: RunningLedger, body: unknown) =>
  fetch(`${ledger.baseUrl}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.each(storageTargets())('POST /api/dev/token on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let dataDir: string;

  beforeAll(async () => {
    storage = await makeStorage();
    // The development secret lives in the data folder: keep it out of the working tree.
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-dev-token-'));
  });

  afterAll(async () => {
    await storage.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('mints working tokens while the service runs on its development secret', async () => {
    const ledger = await startLedger(storage, { AUTH_JWT_SECRET: '', LEDGER_DATA_DIR: dataDir });
    try {
      expect(ledger.config.auth).toMatchObject({ kind: 'secret', development: true });
      const minted = await postDevToken(ledger, { sub: 'devon', role: 'user' });
      expect(minted.status).toBe(201);
      const body = (await minted.json()) as { token: string; sub: string; role: string; expiresAt: string };
      expect(body).toMatchObject({ sub: 'devon', role: 'user' });
      expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
      const balance = await createLedgerClient({ baseUrl: ledger.baseUrl, token: body.token }).getBalance();
      expect(balance.accountId).toBe('devon');

      const refused = await postDevToken(ledger, { sub: 'devon', role: 'superuser' });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: 'validation_failed' });
    } finally {
      await ledger.stop();
    }
  });

  it('does not exist (404) when the service has a configured secret', async () => {
    const ledger = await startLedger(storage, { LEDGER_DATA_DIR: dataDir });
    try {
      expect(ledger.config.auth).toMatchObject({ kind: 'secret', development: false });
      const answer = await postDevToken(ledger, { sub: 'devon', role: 'admin' });
      expect(answer.status).toBe(404);
      expect(await answer.json()).toMatchObject({ error: 'not_found' });
    } finally {
      await ledger.stop();
    }
  });

  it('does not exist in production either', async () => {
    const ledger = await startLedger(storage, { LEDGER_DATA_DIR: dataDir, NODE_ENV: 'production' });
    try {
      expect((await postDevToken(ledger, { sub: 'devon' })).status).toBe(404);
    } finally {
      await ledger.stop();
    }
  });
});
