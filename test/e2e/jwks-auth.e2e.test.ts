import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import request from 'supertest';
import { startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

/** RS256/ES256 tokens verified against a JWKS served over real HTTP. */
describe('ledger with AUTH_JWKS_URL', () => {
  const [, makeStorage] = storageTargets()[0] ?? [];
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let jwks: Server;
  let rsaKey: KeyLike;
  let ecKey: KeyLike;
  let strangerKey: KeyLike;

  beforeAll(async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    rsaKey = rsa.privateKey;
    ecKey = ec.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    if (makeStorage === undefined) throw new Error('no storage target');
    storage = await makeStorage();
    ledger = await startLedger(storage, { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` });
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
    await new Promise((resolve) => jwks.close(resolve));
  });

  const sign = (key: KeyLike, alg: string, kid: string) =>
    new SignJWT({ role: 'user' }).setProtectedHeader({ alg, kid }).setSubject('jwks-user').setExpirationTime('5m').sign(key);
  const balance = (token: string) => request(ledger.baseUrl).get('/api/credits/balance').set('Authorization', `Bearer ${token}`);

  it('accepts RS256 and ES256 tokens whose keys are in the JWKS', async () => {
    expect((await balance(await sign(rsaKey, 'RS256', 'rsa-1')).expect(200)).body.accountId).toBe('jwks-user');
    await balance(await sign(ecKey, 'ES256', 'ec-1')).expect(200);
  });

  it('refuses a token signed by a key outside the JWKS, and an HS256 token', async () => {
    await balance(await sign(strangerKey, 'RS256', 'rsa-1')).expect(401);
    await balance(await tokenFor('jwks-user')).expect(401);
  });
});
