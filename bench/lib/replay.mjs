// The event-volume part of `npm run bench`, run as child processes of bench/run.mjs (one per
// step, so the account load is timed in a fresh process). Each prints one JSON line on stdout.
//
//   node bench/lib/replay.mjs seed-spread <db> <events> <accounts>  append real events (a grant, then
//                                                                   spends) spread over many accounts
//   node bench/lib/replay.mjs rebuild <db>                           rebuildProjection: balances, then all in one pass
//   node bench/lib/replay.mjs rebuild-each <db> [batch] [names]       a diagnostic, not part of `npm run bench`: each
//                                                                   projection alone (or the comma-separated names
//                                                                   as one pass), with the CPU this process and the
//                                                                   whole machine took, to see where a rebuild's time goes
//   node bench/lib/replay.mjs seed-long <db> <events> <accountId>    one account with <events> events
//   node bench/lib/replay.mjs load-first <db> <accountId> <balance> <events>   AccountRepository.load, the first ever
//   node bench/lib/replay.mjs load <db> <accountId> <warm loads> <balance> <events>  then cold (fresh process) and warm
//
// Seeding is set-up, not measured: it appends through the service's own PostgresEventStore
// (ledger_append) in big batches of events in the stored shape of src/domain/account.events.ts
// and account-event-codec.ts (type and data as they are, { schemaVersion: 1 } as metadata).
import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineTicks } from './load.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const dist = (path) => require(join(ROOT, 'dist', path));

const say = (line) => process.stderr.write(`    ${line}\n`);
const DAY_MS = 24 * 60 * 60 * 1000;
/** Seeded histories end now and spread over this many days (so a 24 h idempotency window holds 1/30 of them). */
const SPREAD_DAYS = Number(process.env.BENCH_SPREAD_DAYS ?? 30);
const RATE_CARD_VERSION = '2026-01-01';

/** The spends the seeded accounts make, priced as the rate card in config/ does. */
const SPENDS = [
  { service: 'sms', unit: 'message', quantity: 1, unitPriceMillicredits: 1000, per: 1 },
  { service: 'voice_call', unit: 'second', quantity: 90, unitPriceMillicredits: 1000, per: 60 },
  { service: 'gpt-4', unit: 'token', quantity: 1500, unitPriceMillicredits: 60000, per: 1000 },
  { service: 'claude', unit: 'token', quantity: 800, unitPriceMillicredits: 2000, per: 1000 },
];
const charge = ({ quantity, unitPriceMillicredits, per }) => Math.ceil((quantity * unitPriceMillicredits) / per);
const MAX_CHARGE = Math.max(...SPENDS.map(charge));
const hashOf = (value) => createHash('sha256').update(value).digest('hex');

const stored = (event) => ({ eventId: randomUUID(), type: event.type, data: event.data, metadata: { schemaVersion: event.schemaVersion } });

const grantEvent = (accountId, lotId, millicredits, occurredAt) =>
  stored({
    type: 'CreditsGranted',
    schemaVersion: 1,
    data: {
      accountId,
      commandId: `request:${randomUUID()}`,
      requestHash: hashOf(`grant:${accountId}:${lotId}`),
      occurredAt,
      lotId,
      creditsMillicredits: millicredits,
      reason: 'bench seed',
      expiresAt: null,
      grantedBy: 'bench',
    },
  });

const usedEvent = (accountId, lotId, spend, occurredAt) => {
  const charged = charge(spend);
  return stored({
    type: 'CreditsUsed',
    schemaVersion: 1,
    data: {
      accountId,
      commandId: `request:${randomUUID()}`,
      requestHash: hashOf(`use:${accountId}:${spend.service}:${spend.quantity}`),
      occurredAt,
      usageId: randomUUID(),
      service: spend.service,
      unit: spend.unit,
      quantity: spend.quantity,
      rateCardVersion: RATE_CARD_VERSION,
      unitPriceMillicredits: spend.unitPriceMillicredits,
      per: spend.per,
      chargedMillicredits: charged,
      draws: [{ lotId, millicredits: charged }],
      metadata: {},
    },
  });
};

/** An account's history: one grant big enough for everything, then `count - 1` spends, ending now. */
function* accountEvents(accountId, count, startIndex = 0, endAt = Date.now()) {
  const lotId = `grant-${accountId}`;
  const step = (SPREAD_DAYS * DAY_MS) / count;
  const at = (i) => new Date(endAt - SPREAD_DAYS * DAY_MS + i * step).toISOString();
  for (let i = startIndex; i < count; i += 1) {
    yield i === 0 ? grantEvent(accountId, lotId, count * MAX_CHARGE, at(0)) : usedEvent(accountId, lotId, SPENDS[i % SPENDS.length], at(i));
  }
}

/** What an account of `count` events should fold to (checks that a load read all of it). */
const expectedBalance = (count) => {
  let spent = 0;
  for (let i = 1; i < count; i += 1) spent += charge(SPENDS[i % SPENDS.length]);
  return count * MAX_CHARGE - spent;
};

/** Commands of a seeded account inside the 24 h idempotency window of its newest event (±1 for ms rounding). */
const expectedWindowCommands = (count) => {
  const step = (SPREAD_DAYS * DAY_MS) / count;
  return Math.min(count, Math.floor(DAY_MS / step) + 1);
};

/**
 * When the service chains its events (metadata prevHash/hash, src/application/accounts/event-chain.ts),
 * seeded events are chained the same way, so they have the stored shape and size of real ones.
 */
const chain = (() => {
  try {
    const { chainEvents, GENESIS_HASH } = dist('application/accounts/event-chain.js');
    if (typeof chainEvents !== 'function') return null;
    return { genesis: GENESIS_HASH, link: chainEvents };
  } catch {
    return null;
  }
})();
const linked = (streamId, firstRevision, prevHash, events) => {
  if (chain === null) return { events, lastHash: null };
  const chained = chain.link(streamId, firstRevision, prevHash ?? chain.genesis, events);
  return { events: chained, lastHash: chained.at(-1)?.metadata?.hash ?? null };
};

const openStore = async (url) => {
  const { PgSqlClient } = dist('infrastructure/postgres/sql-client.js');
  const { PostgresEventStore } = dist('infrastructure/event-store/postgres-event-store.js');
  const sql = PgSqlClient.connect(url, 8);
  const store = await PostgresEventStore.open(sql);
  return { sql, store, close: async () => (await store.close(), await sql.close()) };
};

const seedSpread = async (url, events, accounts) => {
  const { store, close } = await openStore(url);
  const started = performance.now();
  const perAccount = Math.floor(events / accounts);
  let extra = events - perAccount * accounts;
  let appended = 0;
  let nextAccount = 0;
  let lastSay = started;
  const worker = async () => {
    while (nextAccount < accounts) {
      const index = nextAccount++;
      const count = perAccount + (extra-- > 0 ? 1 : 0);
      const accountId = `seed-${String(index).padStart(6, '0')}`;
      const streamId = `credit-account-${accountId}`;
      await store.append(streamId, linked(streamId, 0, null, [...accountEvents(accountId, count)]).events, 'no_stream');
      appended += count;
      if (performance.now() - lastSay > 5000) {
        lastSay = performance.now();
        say(`seeded ${appended.toLocaleString('en-US')} / ${events.toLocaleString('en-US')} events`);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  await close();
  return { events: appended, accounts, hashChained: chain !== null, seconds: (performance.now() - started) / 1000 };
};

const seedLong = async (url, events, accountId) => {
  const { store, close } = await openStore(url);
  const started = performance.now();
  const batch = 5000;
  const endAt = Date.now();
  const generator = accountEvents(accountId, events, 0, endAt);
  let expected = 'no_stream';
  let prevHash = null;
  let appended = 0;
  let lastSay = started;
  for (;;) {
    const chunk = [];
    while (chunk.length < batch) {
      const next = generator.next();
      if (next.done) break;
      chunk.push(next.value);
    }
    if (chunk.length === 0) break;
    const streamId = `credit-account-${accountId}`;
    const batchOf = linked(streamId, appended, prevHash, chunk);
    const result = await store.append(streamId, batchOf.events, expected);
    prevHash = batchOf.lastHash;
    expected = result.nextExpectedRevision;
    appended += chunk.length;
    if (performance.now() - lastSay > 5000) {
      lastSay = performance.now();
      say(`seeded ${appended.toLocaleString('en-US')} / ${events.toLocaleString('en-US')} events of ${accountId}`);
    }
  }
  await close();
  return { events: appended, accountId, hashChained: chain !== null, expectedBalanceMillicredits: expectedBalance(events), seconds: (performance.now() - started) / 1000 };
};

const rebuild = async (url, batchSize) => {
  const { sql, store, close } = await openStore(url);
  const { rebuildProjection, rebuildProjections } = dist('projections/rebuild.js');
  const { PROJECTIONS } = dist('projections/projections.registry.js');
  const run = async (projection) => {
    const started = performance.now();
    const result = await rebuildProjection(sql, store, projection, { batchSize });
    const seconds = (performance.now() - started) / 1000;
    const figures = { projection: projection.name, events: result.eventsApplied, seconds, eventsPerSecond: result.eventsApplied / seconds };
    say(`rebuilt ${projection.name}: ${result.eventsApplied.toLocaleString('en-US')} events in ${seconds.toFixed(1)} s (${Math.round(figures.eventsPerSecond).toLocaleString('en-US')} events/s)`);
    return figures;
  };
  // The balances projection alone, then every projection from one read of the log, as
  // `npm run projections:rebuild` does (rebuildProjections).
  const balances = await run(PROJECTIONS.find((projection) => projection.name === 'balances'));
  const started = performance.now();
  const results = await rebuildProjections(sql, store, PROJECTIONS, { batchSize });
  const allSeconds = (performance.now() - started) / 1000;
  const events = results[0]?.eventsApplied ?? 0;
  say(`rebuilt all ${results.length} projections in one pass: ${events.toLocaleString('en-US')} events in ${allSeconds.toFixed(1)} s (${Math.round(events / allSeconds).toLocaleString('en-US')} events/s)`);
  const each = results.map((result) => ({ projection: result.projection, events: result.eventsApplied, swappedInAfterSeconds: result.seconds }));
  await close();
  return {
    batchSize,
    balances,
    all: { projections: each.map((p) => p.projection), events, seconds: allSeconds, eventsPerSecond: events / allSeconds, each },
  };
};

/** Busy CPU seconds of the whole machine so far (Linux). */
const machineCpuSeconds = () => {
  const { total, idle } = machineTicks();
  return (total - idle) / 100;
};

/**
 * Each projection rebuilt alone from position 0 (or `names`, comma-separated, in one pass), with
 * wall time, this process's CPU (the read, the decoding, the rows; V8's GC threads included) and
 * the machine's (the rest is mostly Postgres). A projection that writes little shows the cost of
 * the read alone.
 */
const rebuildEach = async (url, batchSize, names) => {
  const { sql, store, close } = await openStore(url);
  const { rebuildProjections } = dist('projections/rebuild.js');
  const { PROJECTIONS } = dist('projections/projections.registry.js');
  const groups = names === undefined ? PROJECTIONS.map((projection) => [projection]) : [names.split(',').map((name) => {
    const projection = PROJECTIONS.find((candidate) => candidate.name === name);
    if (projection === undefined) throw new Error(`no projection named ${name}`);
    return projection;
  })];
  const results = [];
  for (const group of groups) {
    const cpu = process.cpuUsage();
    const machine = machineCpuSeconds();
    const started = performance.now();
    const [first] = await rebuildProjections(sql, store, group, { batchSize });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const processCpuSeconds = (used.user + used.system) / 1e6;
    const machineSeconds = machineCpuSeconds() - machine;
    const events = first?.eventsApplied ?? 0;
    const figures = { projections: group.map((projection) => projection.name), events, seconds, eventsPerSecond: events / seconds, processCpuSeconds, machineCpuSeconds: machineSeconds, restCpuSeconds: machineSeconds - processCpuSeconds };
    say(`${figures.projections.join('+')}: ${seconds.toFixed(2)} s (${Math.round(figures.eventsPerSecond).toLocaleString('en-US')} events/s); CPU: this process ${processCpuSeconds.toFixed(2)} s, machine ${machineSeconds.toFixed(2)} s, the rest ${figures.restCpuSeconds.toFixed(2)} s`);
    results.push(figures);
  }
  await close();
  return { batchSize, results };
};

/** AccountRepository from the service's own module (whatever it injects), projections off. */
const load = async (url, accountId, warmLoads, expectedBalanceMillicredits, expectedEvents, firstOnly) => {
  const { NestFactory } = require('@nestjs/core');
  const { loadConfig } = dist('infrastructure/config/app-config.js');
  const { LedgerModule } = dist('infrastructure/ledger.module.js');
  const { AccountRepository } = dist('application/accounts/account-repository.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-bench-load-'));
  const config = loadConfig({
    DATABASE_URL: url,
    AUTH_JWT_SECRET: process.env.AUTH_JWT_SECRET,
    RUN_PROJECTIONS: 'false',
    LEDGER_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  });
  const app = await NestFactory.createApplicationContext(LedgerModule.forConfig(config), { logger: ['error', 'warn'], abortOnError: false });
  await app.init();
  const repository = app.get(AccountRepository);
  const timeLoad = async () => {
    const started = performance.now();
    const loaded = await repository.load(accountId);
    return { ms: performance.now() - started, loaded };
  };
  const cold = await timeLoad();
  const warm = [];
  if (firstOnly) warmLoads = 0;
  // Up to `warmLoads`, within a minute (at least one): an unbounded load of a long stream takes seconds each.
  const budgetEnds = performance.now() + 60_000;
  for (let i = 0; i < warmLoads && (i === 0 || performance.now() < budgetEnds); i += 1) warm.push((await timeLoad()).ms);
  const sorted = [...warm].sort((a, b) => a - b);
  const state = cold.loaded.state;
  // The idempotency window must come back whole: records in the state, plus the ids a snapshot archived.
  const windowCommands = state.commands.size + (cold.loaded.archivedCommands?.size ?? 0);
  const expectedWindow = expectedWindowCommands(expectedEvents);
  const verified =
    state.balanceMillicredits === expectedBalanceMillicredits &&
    Number(cold.loaded.expectedRevision) === expectedEvents - 1 &&
    Math.abs(windowCommands - expectedWindow) <= 1;
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    accountId,
    events: expectedEvents,
    coldMs: cold.ms,
    warmMs: warm,
    warmMedianMs: sorted[Math.floor(sorted.length / 2)] ?? null,
    verified,
    balanceMillicredits: state.balanceMillicredits,
    idempotencyWindow: { commands: windowCommands, archived: cold.loaded.archivedCommands?.size ?? null, expected: expectedWindow },
    expectedRevision: cold.loaded.expectedRevision,
    // what the repository says about snapshots, when it says anything
    eventsReplayedOnColdLoad: cold.loaded.eventsSinceSnapshot ?? null,
  };
};

const [command, url, ...rest] = process.argv.slice(2);
const commands = {
  'seed-spread': () => seedSpread(url, Number(rest[0]), Number(rest[1])),
  'seed-long': () => seedLong(url, Number(rest[0]), rest[1]),
  rebuild: () => rebuild(url, Number(rest[0] ?? 5000)),
  'rebuild-each': () => rebuildEach(url, Number(rest[0] ?? 20_000), rest[1]),
  // `load-first`: the very first load of the seeded account (no snapshot can exist yet: seeding
  // bypassed the write path); `load`: then, in another fresh process, a cold load and warm ones.
  'load-first': () => load(url, rest[0], 0, Number(rest[1]), Number(rest[2]), true),
  load: () => load(url, rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3]), false),
};
if (commands[command] === undefined) {
  process.stderr.write('usage: replay.mjs seed-spread|seed-long|rebuild|rebuild-each|load <database url> …\n');
  process.exit(2);
}
commands[command]().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
