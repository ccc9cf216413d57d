// The heap that accounts' states take in the service's main isolate, most of it command
// records (one per command inside the idempotency window, until a snapshot archives them),
// and how long one full GC of it takes. Runs the domain from dist/ in this process: no
// service, no database.
//
// Command ids, fingerprints and usage ids are made by the service's own code for a request
// without an Idempotency-Key, and every event is serialized as the Postgres store does before
// it is applied. That matters: Node 20 builds randomUUID() from 20 concatenations, which V8
// keeps as a tree of cons strings (about 490 bytes and a dozen objects) until something
// flattens it, and the append's JSON.stringify flattens the ids a record shares with its event.
//
// Usage: npm run bench:records [-- --accounts N --spends N]
//   --accounts  accounts granted credits first (default 10,000)
//   --spends    spends after the grants, round-robin over the accounts (default 150,000)
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';

const require = createRequire(import.meta.url);
const { decide } = require('../dist/domain/account.decider.js');
const { encodeAccountEvent } = require('../dist/application/accounts/account-event-codec.js');
const { commandIdentity } = require('../dist/infrastructure/http/idempotency.js');
const { uuidGenerator } = require('../dist/infrastructure/system-clock.js');
const { initialAccountState, workingCopy, advance } = require('../dist/domain/account.state.js');

const { values } = parseArgs({ options: { accounts: { type: 'string', default: '10000' }, spends: { type: 'string', default: '150000' } } });
const accounts = Number(values.accounts);
const spends = Number(values.spends);
const newId = () => uuidGenerator.next();
/** The command id and fingerprint of a request without an Idempotency-Key, as the HTTP layer makes them. */
const identity = (operation, accountId, body) => {
  const { commandId, requestHash } = commandIdentity(undefined, operation, accountId, body);
  return { commandId, requestHash };
};

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const options = { idempotencyRetentionMs: 24 * 60 * 60 * 1000 };
const rate = { rateCardVersion: '2026-01', unit: 'minute', unitPriceMillicredits: 1000, per: 1 };
const states = new Map();
// Strings as a request brings them: parsed from its own text, shared with nothing.
const fresh = (value) => JSON.parse(JSON.stringify(value));

const apply = (accountId, command) => {
  const state = states.get(accountId) ?? workingCopy(initialAccountState);
  const decision = decide(command, state, options);
  if (decision.status !== 'accepted') throw new Error(`${command.type} on ${accountId}: ${JSON.stringify(decision)}`);
  // The append's serialization (postgres-event-store): it flattens the strings the record shares with the event.
  JSON.stringify(decision.events.map((event) => encodeAccountEvent(event, newId()).data));
  advance(state, decision.events.map((event, index) => ({ event, position: index })), options);
  states.set(accountId, state);
};

gc();
const before = process.memoryUsage().heapUsed;
for (let index = 0; index < accounts; index += 1) {
  const accountId = fresh(`account-${index}`);
  const body = JSON.parse('{"credits":"1000000","reason":"bench"}');
  apply(accountId, {
    type: 'GrantCredits', accountId, ...identity('grant', accountId, body), now: new Date().toISOString(),
    grantId: newId(), creditsMillicredits: 1_000_000_000, reason: body.reason, expiresAt: null, grantedBy: 'bench',
  });
}
for (let index = 0; index < spends; index += 1) {
  const accountId = fresh(`account-${index % accounts}`);
  const body = JSON.parse(`{"service":"voice","quantity":1,"metadata":{"call":"${index}"}}`);
  apply(accountId, {
    type: 'UseCredits', accountId, ...identity('use', accountId, body), now: new Date().toISOString(),
    usageId: newId(), service: body.service, quantity: body.quantity, rate, metadata: body.metadata,
  });
}
gc();
const heapBytes = process.memoryUsage().heapUsed - before;
let records = 0;
for (const state of states.values()) records += state.commands.size;
const started = performance.now();
gc();
const fullGcMs = performance.now() - started;
console.log(
  JSON.stringify({ accounts, records, heapMB: Number((heapBytes / 2 ** 20).toFixed(1)), bytesPerRecord: Math.round(heapBytes / records), fullGcMs: Number(fullGcMs.toFixed(1)) }),
);
