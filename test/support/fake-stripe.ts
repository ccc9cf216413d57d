import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A local stand-in for Stripe's API, just enough for the real `stripe` SDK as the ledger
 * uses it: Checkout Sessions are created and PaymentIntents read back. Every request is
 * recorded, parsed, so tests can assert what the SDK actually sent.
 */

/** A form-encoded body as the SDK sends it (`line_items[0][price_data][unit_amount]=1000`), nested back into objects. */
export type FormValue = string | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The Idempotency-Key header, if the SDK sent one. */
  readonly idempotencyKey: string | undefined;
  readonly rawBody: string;
  /** Flat form fields, keys as sent: `line_items[0][price_data][currency]`. */
  readonly form: Readonly<Record<string, string>>;
  /** The same fields nested: `body.line_items['0'].price_data.currency`. */
  readonly body: FormObject;
}

export interface FakeCheckoutSession {
  readonly id: string;
  readonly object: 'checkout.session';
  readonly url: string;
  readonly mode: string;
  readonly amount_total: number;
  readonly currency: string;
  readonly client_reference_id: string | null;
  readonly metadata: Record<string, string>;
  readonly payment_intent: string;
  readonly payment_status: 'unpaid';
  readonly status: 'open';
  readonly success_url: string | null;
  readonly cancel_url: string | null;
  readonly livemode: false;
}

export interface FakeStripe {
  /** The value for STRIPE_API_BASE_URL. */
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  /** The session-create requests only, oldest first. */
  sessionCreates(): readonly RecordedRequest[];
  /** Sessions created so far, by id. */
  readonly sessions: ReadonlyMap<string, FakeCheckoutSession>;
  /** While on, every request answers 500 api_error (with Stripe-Should-Retry: false, so the SDK gives up at once). */
  setOutage(on: boolean): void;
  close(): Promise<void>;
}

/** `a[b][0][c]` → ['a', 'b', '0', 'c']. */
const keyPath = (key: string): string[] => {
  const head = key.split('[', 1)[0] ?? key;
  const rest = [...key.slice(head.length).matchAll(/\[([^\]]*)\]/g)].map((match) => match[1] ?? '');
  return [head, ...rest];
};

export const parseForm = (raw: string): { form: Record<string, string>; body: FormObject } => {
  const form: Record<string, string> = {};
  const body: FormObject = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    form[key] = value;
    const path = keyPath(key);
    let node: FormObject = body;
    path.forEach((part, index) => {
      if (index === path.length - 1) {
        node[part] = value;
        return;
      }
      const next = node[part];
      if (typeof next === 'object') {
        node = next;
      } else {
        const created: FormObject = {};
        node[part] = created;
        node = created;
      }
    });
  }
  return { form, body };
};

/** The `prefix[key]=value` fields of a flat form, as a plain record (`metadata[accountId]` → { accountId }). */
const fieldsUnder = (form: Readonly<Record<string, string>>, prefix: string): Record<string, string> => {
  const found: Record<string, string> = {};
  for (const [key, value] of Object.entries(form)) {
    const match = key.startsWith(`${prefix}[`) ? /^\[([^\]]+)\]$/.exec(key.slice(prefix.length)) : null;
    if (match?.[1] !== undefined) found[match[1]] = value;
  }
  return found;
};

const stripeError = (response: ServerResponse, status: number, type: string, message: string, code?: string): void => {
  response.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${Date.now()}` });
  response.end(JSON.stringify({ error: { type, message, ...(code === undefined ? {} : { code }) } }));
};

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

export const startFakeStripe = async (): Promise<FakeStripe> => {
  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, FakeCheckoutSession>();
  const intents = new Map<string, { id: string; amount: number; currency: string; metadata: Record<string, string> }>();
  /** Stripe's own idempotency: the same key answers the first response again. */
  const byIdempotencyKey = new Map<string, { rawBody: string; answer: string }>();
  let counter = 0;
  let outage = false;

  const json = (response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    response.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${counter}`, ...headers });
    response.end(body);
  };

  const createSession = (recorded: RecordedRequest, response: ServerResponse): void => {
    const { form } = recorded;
    const unitAmount = Number(form['line_items[0][price_data][unit_amount]']);
    if (!Number.isInteger(unitAmount)) {
      stripeError(response, 400, 'invalid_request_error', 'Missing required param: line_items[0][price_data][unit_amount].', 'parameter_missing');
      return;
    }
    counter += 1;
    const id = `cs_test_${counter}`;
    const paymentIntent = `pi_test_${counter}`;
    const currency = form['line_items[0][price_data][currency]'] ?? '';
    const session: FakeCheckoutSession = {
      id,
      object: 'checkout.session',
      url: `https://checkout.stripe.test/c/${id}`,
      mode: form['mode'] ?? '',
      amount_total: unitAmount * Number(form['line_items[0][quantity]'] ?? '1'),
      currency,
      client_reference_id: form['client_reference_id'] ?? null,
      metadata: fieldsUnder(form, 'metadata'),
      payment_intent: paymentIntent,
      payment_status: 'unpaid',
      status: 'open',
      success_url: form['success_url'] ?? null,
      cancel_url: form['cancel_url'] ?? null,
      livemode: false,
    };
    sessions.set(id, session);
    intents.set(paymentIntent, { id: paymentIntent, amount: session.amount_total, currency, metadata: fieldsUnder(form, 'payment_intent_data[metadata]') });
    const answer = JSON.stringify(session);
    if (recorded.idempotencyKey !== undefined) byIdempotencyKey.set(recorded.idempotencyKey, { rawBody: recorded.rawBody, answer });
    json(response, 200, answer);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const rawBody = await readBody(request);
    const url = new URL(request.url ?? '/', 'http://fake-stripe');
    const method = request.method ?? 'GET';
    const header = request.headers['idempotency-key'];
    const recorded: RecordedRequest = {
      method,
      path: url.pathname,
      headers: request.headers,
      idempotencyKey: Array.isArray(header) ? header[0] : header,
      rawBody,
      ...parseForm(method === 'GET' ? url.search.slice(1) : rawBody),
    };
    requests.push(recorded);

    if (outage) {
      response.setHeader('stripe-should-retry', 'false');
      stripeError(response, 500, 'api_error', 'An unknown error occurred (fake outage).');
      return;
    }
    if (request.headers.authorization === undefined || !/^Bearer sk_test_/.test(request.headers.authorization)) {
      stripeError(response, 401, 'invalid_request_error', 'You did not provide an API key.');
      return;
    }
    if (method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const earlier = recorded.idempotencyKey === undefined ? undefined : byIdempotencyKey.get(recorded.idempotencyKey);
      if (earlier !== undefined) {
        if (earlier.rawBody !== rawBody) {
          stripeError(response, 400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.');
          return;
        }
        json(response, 200, earlier.answer, { 'idempotent-replayed': 'true' });
        return;
      }
      createSession(recorded, response);
      return;
    }
    const intentMatch = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && intentMatch?.[1] !== undefined) {
      const intent = intents.get(decodeURIComponent(intentMatch[1]));
      if (intent === undefined) {
        stripeError(response, 404, 'invalid_request_error', `No such payment_intent: '${intentMatch[1]}'`, 'resource_missing');
        return;
      }
      json(response, 200, JSON.stringify({ ...intent, object: 'payment_intent', status: 'succeeded', livemode: false }));
      return;
    }
    stripeError(response, 404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      stripeError(response, 500, 'api_error', error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sessionCreates: () => requests.filter((request) => request.method === 'POST' && request.path === '/v1/checkout/sessions'),
    sessions,
    setOutage: (on) => {
      outage = on;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
};

// ---- webhook events, as Stripe delivers them -------------------------------------------

/** Only the SDK's webhook helpers are used: no request is made with this key. */
const signer = new Stripe('sk_test_signer_only');
let eventCounter = 0;

const event = (type: string, object: Record<string, unknown>): string =>
  JSON.stringify({
    id: `evt_test_${++eventCounter}_${Date.now()}`,
    object: 'event',
    api_version: '2025-01-27.acacia',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  });

export interface SessionFacts {
  readonly id: string;
  readonly accountId: string;
  readonly packageId: string;
  readonly amountTotal: number;
  readonly currency: string;
  readonly paymentIntent: string;
  readonly paymentStatus?: 'paid' | 'unpaid' | 'no_payment_required';
}

const sessionObject = (session: SessionFacts, status: 'complete' | 'open') => ({
  id: session.id,
  object: 'checkout.session',
  mode: 'payment',
  status,
  payment_status: session.paymentStatus ?? 'paid',
  amount_total: session.amountTotal,
  currency: session.currency,
  client_reference_id: session.accountId,
  metadata: { accountId: session.accountId, packageId: session.packageId },
  payment_intent: session.paymentIntent,
  livemode: false,
});

/** The facts of a session the fake created, for building its events. */
export const factsOf = (session: FakeCheckoutSession): SessionFacts => ({
  id: session.id,
  accountId: session.metadata['accountId'] ?? session.client_reference_id ?? '',
  packageId: session.metadata['packageId'] ?? '',
  amountTotal: session.amount_total,
  currency: session.currency,
  paymentIntent: session.payment_intent,
});

export const checkoutCompletedEvent = (session: SessionFacts): string =>
  event('checkout.session.completed', sessionObject(session, 'complete'));

export const asyncPaymentSucceededEvent = (session: SessionFacts): string =>
  event('checkout.session.async_payment_succeeded', sessionObject({ ...session, paymentStatus: 'paid' }, 'complete'));

export interface ChargeFacts {
  readonly id: string;
  readonly paymentIntent: string;
  readonly amount: number;
  readonly amountRefunded: number;
  readonly currency: string;
}

export const chargeRefundedEvent = (charge: ChargeFacts): string =>
  event('charge.refunded', {
    id: charge.id,
    object: 'charge',
    payment_intent: charge.paymentIntent,
    amount: charge.amount,
    amount_refunded: charge.amountRefunded,
    refunded: charge.amountRefunded >= charge.amount,
    currency: charge.currency,
    paid: true,
    status: 'succeeded',
    metadata: {},
    livemode: false,
  });

export const genericEvent = (type: string, object: Record<string, unknown>): string => event(type, object);

/** The Stripe-Signature header for `payload`, made by the SDK's own test helper. */
export const signPayload = (payload: string, secret: string, timestamp?: number): string =>
  signer.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp === undefined ? {} : { timestamp }) });
