// A diagnostic, not part of `npm run bench`: what one node-postgres round trip costs in CPU, on
// the Node side and on the Postgres backend's, back to back and with the backend left idle
// between queries (as at a moderate request rate, where each query has to wake it).
//
// Usage: node bench/round-trip.mjs   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres;
//        the backend's CPU is read from /proc, so Postgres must run on this machine)
import pg from 'pg';
import { readProc, ticksOf } from './lib/load.mjs';

const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const [{ pid }] = (await client.query('SELECT pg_backend_pid() AS pid')).rows;
  const backendCpuMs = () => {
    const stat = readProc(`/proc/${pid}/stat`);
    if (stat === null) throw new Error(`backend ${pid} is not on this machine (or has ended)`);
    return ticksOf(stat) * 10; // clock ticks are 1/100 s
  };
  for (const gapMs of [0, 1, 5]) {
    const count = gapMs === 0 ? 20_000 : 2_000;
    const node = process.cpuUsage();
    const backend = backendCpuMs();
    const started = performance.now();
    for (let i = 0; i < count; i += 1) {
      await client.query({ name: 'round_trip', text: 'SELECT $1::int AS x', values: [i] });
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    const used = process.cpuUsage(node);
    const perTrip = (ms) => `${Math.round((ms / count) * 1000)} µs`;
    console.log(
      `${gapMs === 0 ? 'back to back' : `${gapMs} ms apart`}: ${count} round trips, ${perTrip(performance.now() - started)} each; ` +
        `CPU per round trip: Node ${perTrip((used.user + used.system) / 1000)} (timer included when apart), Postgres backend ${perTrip(backendCpuMs() - backend)}`,
    );
  }
} finally {
  await client.end();
}
