// `node bench/fold-replay.mjs [events]` (after `npm run -s build`): folds one account's history
// from nothing, as a load without a snapshot does. A grant, then one spend a second, each with a
// command record the 24 h idempotency window keeps (86,400 of them once the window is full).
// Prints each of five folds after two warm-ups; a diagnostic, nothing goes to bench/results.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { fold, initialAccountState } = require(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'domain', 'account.state.js'));

const count = Number(process.argv[2] ?? 300_000);
const lotId = 'grant-1';
const at = (seconds) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString();
const event = (i) =>
  i === 0
    ? { type: 'CreditsGranted', data: { accountId: 'a', commandId: 'request:grant', requestHash: 'h', occurredAt: at(0), lotId, creditsMillicredits: count * 1000, reason: 'bench', expiresAt: null, grantedBy: 'bench' } }
    : {
        type: 'CreditsUsed',
        data: {
          accountId: 'a', commandId: `key:${i}`, requestHash: 'h', occurredAt: at(i), usageId: `u${i}`, service: 'sms', unit: 'message', quantity: 1,
          rateCardVersion: 'v1', unitPriceMillicredits: 1000, per: 1, chargedMillicredits: 1000, draws: [{ lotId, millicredits: 1000 }], metadata: {},
        },
      };
const events = Array.from({ length: count }, (_, i) => ({ event: event(i), position: i }));
const options = { idempotencyRetentionMs: 24 * 60 * 60 * 1000 };
for (let run = 0; run < 7; run += 1) {
  const started = process.hrtime.bigint();
  const state = fold(initialAccountState, events, options);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (state.balanceMillicredits !== 1000) throw new Error(`folded to ${state.balanceMillicredits}, not 1000`);
  if (run >= 2) console.log(`fold of ${count} events: ${ms.toFixed(0)} ms, ${((ms * 1e6) / count).toFixed(0)} ns an event, ${state.commands.size} records held`);
}
