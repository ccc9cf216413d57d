// HTTP load generation for `npm run bench`: a closed loop (N connections, each sends its next
// request when the previous answer arrives: the maximum sustainable rate) and an open loop
// (requests sent on a fixed schedule whatever the answers do, latency counted from each
// request's scheduled time, so a stall is charged to every request it delays: no
// coordinated omission).
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const summarize = (values) => {
  if (values.length === 0) return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  let sum = 0;
  for (const value of sorted) sum += value;
  const round = (value) => Math.round(value * 1000) / 1000;
  return {
    count: sorted.length,
    mean: round(sum / sorted.length),
    p50: round(at(50)),
    p90: round(at(90)),
    p99: round(at(99)),
    p999: round(at(99.9)),
    max: round(sorted[sorted.length - 1]),
  };
};

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * The answer to one request, parsed from the bytes a connection has received so far:
 * undefined until all of it is there. Handles Content-Length and chunked bodies.
 */
const parseResponse = (buffer) => {
  const headEnd = buffer.indexOf(CRLF_CRLF);
  if (headEnd < 0) return undefined;
  const head = buffer.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const lines = head.split('\r\n');
  let length;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
    else if (name === 'connection') close = value.toLowerCase() === 'close';
  }
  const bodyStart = headEnd + 4;
  if (!chunked) {
    const size = length ?? 0;
    if (buffer.length < bodyStart + size) return undefined;
    return { status, body: buffer.toString('utf8', bodyStart, bodyStart + size), used: bodyStart + size, close };
  }
  const parts = [];
  let at = bodyStart;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = parseInt(buffer.toString('latin1', at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error('malformed chunked answer');
    if (size === 0) {
      const trailerEnd = buffer.indexOf(CRLF_CRLF, lineEnd);
      if (trailerEnd < 0) return undefined;
      return { status, body: Buffer.concat(parts).toString('utf8'), used: trailerEnd + 4, close };
    }
    if (buffer.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
};

/**
 * A keep-alive HTTP/1.1 client with at most `maxSockets` connections, one request in
 * flight on each (no pipelining); requests beyond that wait for a free connection.
 *
 * Written on bare `net` sockets, not node:http, because the generator shares the 2 cores
 * with the system it measures: each request is one write of a preformatted text and its
 * answer is parsed just enough for status and body. node:http's agent, request and
 * response objects cost several times more CPU per request (bench/README.md has the
 * figures), CPU the designs under test then did not have.
 */
export const httpClient = (baseUrl, maxSockets) => {
  const url = new URL(baseUrl);
  const host = url.hostname;
  const port = Number(url.port || 80);
  const hostHeader = `Host: ${url.host}\r\n`;
  const all = new Set();
  const idle = [];
  const waiting = [];
  let closed = false;

  const connection = () => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const conn = { socket, buffer: Buffer.alloc(0), current: undefined, dead: false };
    const fail = (message) => {
      all.delete(conn);
      if (conn.dead) return;
      conn.dead = true;
      const index = idle.indexOf(conn);
      if (index >= 0) idle.splice(index, 1);
      const current = conn.current;
      conn.current = undefined;
      current?.resolve({ status: 0, body: '', error: message });
      socket.destroy();
      pump();
    };
    socket.on('data', (data) => {
      conn.buffer = conn.buffer.length === 0 ? data : Buffer.concat([conn.buffer, data]);
      let parsed;
      try {
        parsed = parseResponse(conn.buffer);
      } catch (error) {
        return fail(error.message);
      }
      if (parsed === undefined) return;
      conn.buffer = conn.buffer.subarray(parsed.used);
      const current = conn.current;
      conn.current = undefined;
      if (parsed.close) fail('closed by the server');
      current?.resolve({ status: parsed.status, body: parsed.body });
      if (!conn.dead) release(conn);
    });
    socket.on('error', (error) => fail(error.message));
    socket.on('close', () => fail('connection closed'));
    all.add(conn);
    return conn;
  };

  const start = (conn, job) => {
    conn.current = job;
    conn.socket.write(job.text);
  };
  const release = (conn) => {
    const job = waiting.shift();
    if (job !== undefined) start(conn, job);
    else idle.push(conn);
  };
  const pump = () => {
    while (!closed && waiting.length > 0 && (idle.length > 0 || all.size < maxSockets)) {
      const conn = idle.pop() ?? connection();
      const job = waiting.shift();
      start(conn, job);
    }
  };

  const send = ({ method, path, headers = {}, body }) =>
    new Promise((resolve) => {
      if (closed) return resolve({ status: 0, body: '', error: 'client closed' });
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      let text = `${method} ${path} HTTP/1.1\r\n${hostHeader}`;
      for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
      if (payload !== undefined) text += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
      else text += '\r\n';
      waiting.push({ text, resolve });
      pump();
    });
  const close = () => {
    closed = true;
    idle.length = 0;
    for (const conn of all) conn.socket.destroy();
    for (const job of waiting.splice(0)) job.resolve({ status: 0, body: '', error: 'client closed' });
  };
  return { send, close };
};

const countStatus = (statuses, status) => {
  statuses[status] = (statuses[status] ?? 0) + 1;
};

/**
 * `concurrency` workers, each with one request in flight, for warmupMs (not counted) then
 * durationMs. Throughput counts the successful answers that arrive inside the measured window.
 */
export const closedLoop = async ({ client, request, concurrency, warmupMs, durationMs, ok = (res) => res.status === 200, meter }) => {
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + durationMs;
  let cpu;
  if (meter !== undefined) {
    setTimeout(() => {
      const from = meter.snapshot();
      setTimeout(() => (cpu = meter.since(from)), durationMs);
    }, warmupMs);
  }
  const latencies = [];
  const statuses = {};
  let succeeded = 0;
  let failed = 0;
  let sequence = 0;
  let firstError;
  const worker = async () => {
    while (performance.now() < windowEnd) {
      const sent = performance.now();
      const res = await client.send(request(sequence++));
      const done = performance.now();
      if (done < windowStart || done > windowEnd) continue;
      countStatus(statuses, res.status);
      if (ok(res)) {
        succeeded += 1;
        latencies.push(done - sent);
      } else {
        failed += 1;
        firstError ??= `${res.status} ${res.error ?? res.body.slice(0, 200)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  while (meter !== undefined && cpu === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  return {
    cpu,
    concurrency,
    warmupSeconds: warmupMs / 1000,
    seconds: durationMs / 1000,
    succeeded,
    failed,
    statuses,
    firstError,
    throughput: Math.round((succeeded / (durationMs / 1000)) * 10) / 10,
    latencyMs: summarize(latencies),
  };
};

/**
 * Sends `rate` requests per second for durationMs on a fixed schedule (request i at
 * start + i / rate), whatever the answers do. Latency is answer time − scheduled time.
 * onAnswer(i, res, answeredAt, scheduledAt) sees every answer (used for the projection-lag figures).
 */
export const openLoop = async ({ client, request, rate, durationMs, ok = (res) => res.status === 200, onAnswer, drainTimeoutMs = 30_000, meter }) => {
  const from = meter?.snapshot();
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const latencies = [];
  const sendDelays = [];
  const statuses = {};
  let succeeded = 0;
  let failed = 0;
  let answered = 0;
  let lastAnswer = 0;
  let firstError;
  const start = performance.now() + 5;
  let next = 0;
  let resolveDrained;
  const drained = new Promise((resolve) => {
    resolveDrained = resolve;
  });
  const fire = (i) => {
    const scheduled = start + i * interval;
    const sentAt = performance.now();
    sendDelays.push(sentAt - scheduled);
    void client.send(request(i)).then((res) => {
      const done = performance.now();
      answered += 1;
      lastAnswer = done;
      countStatus(statuses, res.status);
      if (ok(res)) {
        succeeded += 1;
        latencies.push(done - scheduled);
      } else {
        failed += 1;
        firstError ??= `${res.status} ${res.error ?? res.body.slice(0, 200)}`;
      }
      onAnswer?.(i, res, done, scheduled);
      if (answered === total) resolveDrained();
    });
  };
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) fire(next++);
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, 5);
  });
  const sendEnd = performance.now();
  const cpu = meter?.since(from);
  let timer;
  await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, drainTimeoutMs)))]);
  clearTimeout(timer);
  const unanswered = total - answered;
  const elapsed = ((answered === total ? lastAnswer : performance.now()) - start) / 1000;
  return {
    offeredRate: rate,
    seconds: durationMs / 1000,
    scheduled: total,
    succeeded,
    failed,
    unanswered,
    statuses,
    firstError,
    cpu,
    sendSeconds: Math.round(((sendEnd - start) / 1000) * 1000) / 1000,
    achievedRate: Math.round((succeeded / elapsed) * 10) / 10,
    latencyMs: summarize(latencies),
    // How late the generator itself sent requests (its own health; included in the latencies above).
    sendDelayMs: summarize(sendDelays),
  };
};

/** A /proc file's text, or null once the process or thread is gone. */
export const readProc = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** utime + stime of a /proc/…/stat line, in clock ticks (1/100 s on Linux). */
export const ticksOf = (stat) => {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

/** The command name of a /proc/…/stat line. */
export const commOf = (stat) => stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));

/** The machine's clock ticks since boot, in all and idle (iowait counted idle), from /proc/stat. */
export const machineTicks = () => {
  const line = (readProc('/proc/stat') ?? 'cpu 0 0 0 0').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] ?? 0);
  return { total: line.reduce((a, b) => a + b, 0), idle };
};

/**
 * CPU time over a window, from /proc (Linux): the machine's busy share, named processes (the
 * server under test), every process called postgres (ours and anyone else's), and this process.
 */
export const cpuMeter = (namedPids, ourDatabase) => {
  const TICK_MS = 10; // CLK_TCK = 100 on Linux
  const processTicks = (pid) => {
    const stat = readProc(`/proc/${pid}/stat`);
    return stat === null ? null : ticksOf(stat);
  };
  // A backend's process title names its database ("postgres: user db host(port) state"): backends
  // of other databases (other people's work on the same server) are counted apart. Ticks are kept
  // per process: a backend that ends during a phase (a pool closing an idle connection) takes its
  // lifetime's ticks with it, which a sum over the processes alive at each end would subtract
  // from the phase (the runs before bench/results/2026-12-06-http-2.json under-counted Postgres in the service's phases this way).
  const postgresTicks = () => {
    const byPid = new Map();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readProc(`/proc/${entry}/stat`);
      if (stat === null || commOf(stat) !== 'postgres') continue;
      const title = (readProc(`/proc/${entry}/cmdline`) ?? '').replace(/\0/g, ' ');
      const backendOfOtherDb = /\(\d+\)/.test(title) && !(ourDatabase !== undefined && title.includes(ourDatabase));
      byPid.set(entry, { ticks: ticksOf(stat), ours: !backendOfOtherDb });
    }
    return byPid;
  };
  /** Ticks each Postgres process took between two readings: those alive at both, and those started since. */
  const postgresSince = (from, to) => {
    let ours = 0;
    let others = 0;
    for (const [pid, now] of to) {
      const before = from.get(pid);
      const ticks = before === undefined ? now.ticks : Math.max(0, now.ticks - before.ticks);
      if (now.ours) ours += ticks;
      else others += ticks;
    }
    return { ours, others };
  };
  const snapshot = () => ({
    at: performance.now(),
    machine: machineTicks(),
    named: Object.fromEntries(Object.entries(namedPids()).map(([name, pid]) => [name, processTicks(pid)])),
    postgres: postgresTicks(),
    self: process.cpuUsage(),
  });
  const since = (from) => {
    const to = snapshot();
    const seconds = (to.at - from.at) / 1000;
    const percent = (ms) => Math.round((ms / 10 / seconds) * 10) / 10; // % of one core
    const named = {};
    for (const name of Object.keys(to.named)) {
      named[name] = from.named[name] === null || to.named[name] === null ? null : percent((to.named[name] - from.named[name]) * TICK_MS);
    }
    const total = to.machine.total - from.machine.total;
    const self = (to.self.user + to.self.system - from.self.user - from.self.system) / 1000;
    const busy = total === 0 ? null : 1 - (to.machine.idle - from.machine.idle) / total;
    const cores = cpus().length;
    const postgres = postgresSince(from.postgres, to.postgres);
    const result = {
      seconds: Math.round(seconds * 100) / 100,
      machineBusyPercent: busy === null ? null : Math.round(busy * 1000) / 10,
      // the rest as % of one core:
      ...Object.fromEntries(Object.entries(named).map(([name, value]) => [`${name}Percent`, value])),
      postgresPercent: percent(postgres.ours * TICK_MS),
      postgresOtherDatabasesPercent: percent(postgres.others * TICK_MS),
      loadGeneratorPercent: percent(self),
    };
    const accounted = Object.values(named).reduce((sum, value) => sum + (value ?? 0), 0) + result.postgresPercent + result.loadGeneratorPercent;
    // Everything else on the machine (other people's tests, their Postgres backends included).
    result.otherPercent = busy === null ? null : Math.round(Math.max(0, busy * cores * 100 - accounted) * 10) / 10;
    return result;
  };
  return { snapshot, since };
};
