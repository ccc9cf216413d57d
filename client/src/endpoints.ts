/**
 * Every route the client calls, in OpenAPI's path syntax. The client builds its URLs from
 * this table, and a test checks each entry against the service's OpenAPI document.
 */
export const ENDPOINTS = {
  balance: { method: 'GET', path: '/api/credits/balance' },
  balanceStream: { method: 'GET', path: '/api/credits/balance/stream' },
  transactions: { method: 'GET', path: '/api/credits/transactions' },
  usage: { method: 'GET', path: '/api/credits/usage' },
  pricing: { method: 'GET', path: '/api/credits/pricing' },
  packages: { method: 'GET', path: '/api/credits/packages' },
  use: { method: 'POST', path: '/api/credits/use' },
  checkout: { method: 'POST', path: '/api/credits/checkout' },
  alerts: { method: 'PUT', path: '/api/credits/alerts' },
  reservations: { method: 'GET', path: '/api/credits/reservations' },
  reserve: { method: 'POST', path: '/api/credits/reservations' },
  capture: { method: 'POST', path: '/api/credits/reservations/{reservationId}/capture' },
  release: { method: 'POST', path: '/api/credits/reservations/{reservationId}/release' },
} as const satisfies Record<string, { method: 'GET' | 'POST' | 'PUT'; path: string }>;

export type EndpointName = keyof typeof ENDPOINTS;

/** The path of an endpoint with its `{parameters}` filled in (URL-encoded). */
export const endpointPath = (name: EndpointName, params: Readonly<Record<string, string>> = {}): string =>
  ENDPOINTS[name].path.replace(/\{(\w+)\}/g, (_whole, key: string) => {
    const value = params[key];
    if (value === undefined) throw new Error(`missing path parameter ${key} for ${name}`);
    return encodeURIComponent(value);
  });
