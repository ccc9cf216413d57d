// The baselines of `npm run bench`, served by a bare Fastify server in its own process (as the
// service is), on the same Postgres, with a pg pool of the same size as the service's.
//
//   POST /api/credits/use   B1/B2, the naive design: the same request as the service's
//                           (bearer JWT verified with jose HS256, JSON body { service, quantity,
//                           accountId }, price from the same rate card), then ONE transaction:
//                             UPDATE balances SET balance = balance - $cost
//                              WHERE account_id = $1 AND balance >= $cost RETURNING balance;
//                             INSERT INTO spend_history (...) RETURNING id;
//                           200 with the balance, or 402 when the UPDATE matched no row.
//   POST /bare              B3, a bare endpoint: Fastify parses the same JSON body and answers a
//                           small JSON object. No auth, no database: the ceiling of the HTTP layer.
//
// Usage: node bench/lib/naive-server.mjs   (env NAIVE_DATABASE_URL, NAIVE_PORT, NAIVE_POOL_SIZE,
// AUTH_JWT_SECRET, CATALOG_FILE); prints "naive listening on <port>" when ready.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import { jwtVerify } from 'jose';

const env = process.env;
const pool = new pg.Pool({ connectionString: env.NAIVE_DATABASE_URL, max: Number(env.NAIVE_POOL_SIZE ?? 20) });
pool.on('error', () => undefined);
const secret = new TextEncoder().encode(env.AUTH_JWT_SECRET);

const [card] = JSON.parse(readFileSync(env.CATALOG_FILE, 'utf8'));
const millis = (decimal) => {
  const [whole, fraction = ''] = decimal.split('.');
  return Number(whole) * 1000 + Number(fraction.padEnd(3, '0'));
};
const rates = new Map(card.services.map((s) => [s.service, { unitPriceMillicredits: millis(s.credits), per: s.per }]));
const priceOf = (rate, quantity) => Number((BigInt(quantity) * BigInt(rate.unitPriceMillicredits) + BigInt(rate.per) - 1n) / BigInt(rate.per));
const credits = (mc) => `${mc < 0 ? '-' : ''}${Math.floor(Math.abs(mc) / 1000)}.${String(Math.abs(mc) % 1000).padStart(3, '0')}`;

const app = Fastify({ logger: false, bodyLimit: 65536 });

const bodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'quantity'],
  properties: {
    service: { type: 'string', minLength: 1, maxLength: 64 },
    quantity: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    accountId: { type: 'string', minLength: 1, maxLength: 128 },
    metadata: { type: 'object' },
  },
};

app.post('/api/credits/use', { schema: { body: bodySchema } }, async (request, reply) => {
  const header = request.headers.authorization ?? '';
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(header.replace(/^Bearer /, ''), secret, { algorithms: ['HS256'] }));
  } catch {
    return reply.status(401).send({ error: 'unauthenticated', message: 'bad token' });
  }
  const role = claims.role ?? 'user';
  const accountId = role === 'user' ? claims.sub : request.body.accountId;
  if (accountId === undefined) return reply.status(400).send({ error: 'validation_failed', message: 'accountId' });
  const rate = rates.get(request.body.service);
  if (rate === undefined) return reply.status(400).send({ error: 'validation_failed', message: 'service' });
  const cost = priceOf(rate, request.body.quantity);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const updated = await client.query(
      'UPDATE balances SET balance = balance - $2 WHERE account_id = $1 AND balance >= $2 RETURNING balance::text AS balance',
      [accountId, cost],
    );
    if (updated.rowCount === 0) {
      await client.query('ROLLBACK');
      return reply.status(402).send({ error: 'insufficient_credits', message: 'not enough credits', required: credits(cost) });
    }
    const usageId = randomUUID();
    const [history] = (
      await client.query(
        'INSERT INTO spend_history (usage_id, account_id, service, quantity, charged) VALUES ($1, $2, $3, $4, $5) RETURNING id::text AS id',
        [usageId, accountId, request.body.service, request.body.quantity, cost],
      )
    ).rows;
    await client.query('COMMIT');
    const balance = Number(updated.rows[0].balance);
    return {
      usageId,
      service: request.body.service,
      quantity: request.body.quantity,
      charged: credits(cost),
      balance: credits(balance),
      available: credits(balance),
      position: Number(history.id),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    return reply.status(503).send({ error: 'unavailable', message: String(error) });
  } finally {
    client.release();
  }
});

app.post('/bare', async () => ({ ok: true }));

await app.listen({ port: Number(env.NAIVE_PORT), host: '127.0.0.1' });
process.stdout.write(`naive listening on ${env.NAIVE_PORT}\n`);
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
