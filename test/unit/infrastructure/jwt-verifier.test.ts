import { SignJWT } from 'jose';
import { JwtVerifier } from '../../../src/infrastructure/auth/jwt-verifier';

const SECRET = 'a-secret-that-is-long-enough-for-hs256-0123456789';

const sign = (claims: Record<string, unknown>, expiresAtSeconds: number, secret = SECRET) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime(expiresAtSeconds)
    .sign(new TextEncoder().encode(secret));

describe('JwtVerifier remembers verified tokens', () => {
  const verifier = JwtVerifier.fromConfig({ kind: 'secret', secret: SECRET, development: false });

  it('answers a repeated token from memory, but never past its exp', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = await sign({ role: 'user' }, nowSeconds + 30);
    expect(await verifier.verify(`Bearer ${token}`)).toEqual({ ok: true, principal: { subject: 'alice', role: 'user' } });
    expect(await verifier.verify(`Bearer ${token}`)).toEqual({ ok: true, principal: { subject: 'alice', role: 'user' } });
    expect(await verifier.verify(`Bearer ${token}`, (nowSeconds + 31) * 1000)).toMatchObject({ ok: false, status: 401, reason: 'token expired' });
  });

  it('never lets a token signed with another key, or edited, through on the strength of a remembered one', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const genuine = await sign({ role: 'user' }, nowSeconds + 60);
    await verifier.verify(`Bearer ${genuine}`);
    const forged = await sign({ role: 'admin' }, nowSeconds + 60, 'another-secret-that-is-long-enough-0123456789');
    expect(await verifier.verify(`Bearer ${forged}`)).toMatchObject({ ok: false, status: 401 });
    const [header, , signature] = genuine.split('.');
    const edited = `${header}.${Buffer.from(JSON.stringify({ sub: 'alice', role: 'admin', exp: nowSeconds + 60 })).toString('base64url')}.${signature}`;
    expect(await verifier.verify(`Bearer ${edited}`)).toMatchObject({ ok: false, status: 401 });
  });

  it('does not remember a token that failed', async () => {
    const expired = await sign({ role: 'user' }, Math.floor(Date.now() / 1000) - 10);
    expect(await verifier.verify(`Bearer ${expired}`)).toMatchObject({ ok: false, status: 401, reason: 'token expired' });
    expect(await verifier.verify(`Bearer ${expired}`)).toMatchObject({ ok: false, status: 401, reason: 'token expired' });
  });
});
