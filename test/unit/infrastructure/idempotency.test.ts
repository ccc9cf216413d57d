import { fingerprint } from '../../../src/infrastructure/http/idempotency';

describe('fingerprint', () => {
  // Stored records keep this hash and a repeat is compared with it, across processes and
  // versions: a change of its text is a change of which repeats match.
  it('is the SHA-256 hex of the canonical JSON of the request, whatever the key order', () => {
    const request = { operation: 'use-credits', accountId: 'acct-1', body: { service: 'sms', quantity: 2, metadata: { b: 1, a: [true, null] } } };
    const reordered = { body: { metadata: { a: [true, null], b: 1 }, quantity: 2, service: 'sms' }, accountId: 'acct-1', operation: 'use-credits' };

    // sha256 of {"accountId":"acct-1","body":{"metadata":{"a":[true,null],"b":1},"quantity":2,"service":"sms"},"operation":"use-credits"}
    expect(fingerprint(request)).toBe('0b0293d991b9b0d3316c61680c93a5157da8ec089531119d1c71209d04345815');
    expect(fingerprint(reordered)).toBe(fingerprint(request));
    expect(fingerprint({ ...request, accountId: 'acct-2' })).not.toBe(fingerprint(request));
  });
});
