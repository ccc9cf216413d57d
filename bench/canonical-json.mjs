// `node bench/canonical-json.mjs [calls]` (after `npm run -s build`): what the canonical JSON of a
// usage event's hashed content and of its request's fingerprint costs, as every spend writes both
// (event-chain.ts, idempotency.ts). Prints the time per pair of calls (three runs after a warm-up)
// and the bytes allocated per pair, summed by V8's sampling heap profiler with the objects the
// young and old generations collected left in: the allocation that sets how often the service
// scavenges. A diagnostic, nothing goes to bench/results; to compare two builds, run it in each.
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { canonicalJson } = require(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'application', 'canonical-json.js'));

const calls = Number(process.argv[2] ?? 200_000);
// A usage event as the service stores it (bench/lib/replay.mjs seeds the same shape).
const data = JSON.parse(
  '{"accountId":"seed-000000","commandId":"request:1b133060-2efd-4888-97a3-7fa96fc18e76","requestHash":"7eff8964c8f8a996e6b15272288c75b7fa090e1eb5ef3c58b3ec787e24414022",' +
    '"occurredAt":"2026-11-13T15:29:17.328Z","usageId":"128e1704-8dac-4a65-a305-9c06134b3580","service":"claude","unit":"token","quantity":800,' +
    '"rateCardVersion":"2026-01-01","unitPriceMillicredits":2000,"per":1000,"chargedMillicredits":1600,"draws":[{"lotId":"grant-seed-000000","millicredits":1600}],"metadata":{}}',
);
const content = () => ({
  prevHash: 'ffbebc1a20d32b3e1f1e602a5a4f4a4ba6eb62a8ab86a7cb5123e81db66d22fd',
  streamId: 'credit-account-seed-000000',
  streamRevision: 5000,
  eventId: '128e1704-8dac-4a65-a305-9c06134b3581',
  type: 'CreditsUsed',
  schemaVersion: 1,
  data,
});
const request = () => ({ operation: 'use-credits', accountId: 'seed-000000', body: { service: 'sms', quantity: 1, metadata: {} } });

let written = 0;
const run = () => {
  for (let call = 0; call < calls; call += 1) written += canonicalJson(content()).length + canonicalJson(request()).length;
};
/** What the loop's own two objects allocate per pair, measured the same way and taken off. */
const baseline = () => {
  for (let call = 0; call < calls; call += 1) written += Object.keys(content()).length + Object.keys(request()).length;
};

const allocatedPerPair = async (work) => {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  work();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  let bytes = 0;
  const sum = (node) => {
    bytes += node.selfSize;
    for (const child of node.children) sum(child);
  };
  sum(profile.head);
  return bytes / calls;
};

run();
for (let round = 1; round <= 3; round += 1) {
  const started = process.hrtime.bigint();
  run();
  console.log(`run ${round}: ${(Number(process.hrtime.bigint() - started) / calls).toFixed(0)} ns per pair`);
}
const allocated = (await allocatedPerPair(run)) - (await allocatedPerPair(baseline));
console.log(`allocated: ~${allocated.toFixed(0)} bytes per pair (sampled over ${calls.toLocaleString('en-US')} pairs)`);
