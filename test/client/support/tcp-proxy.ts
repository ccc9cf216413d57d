import { connect, createServer, type Server, type Socket } from 'node:net';

/** One HTTP request as it crossed the proxy: its request line and headers (lower-cased names). */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * A TCP proxy between a client and the service that can misbehave on purpose: drop the
 * client's connection after the service has answered a request (the answer never
 * arrives), answer 503 itself without forwarding, or cut every open connection. It reads
 * request heads as they pass (HTTP/1.1 in clear text) to decide and to report.
 */
export class TcpProxy {
  readonly seen: SeenRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private dropResponseOf: string | undefined;
  private refuseWith503: string | undefined;
  private server: Server | undefined;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<string> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    this.port = address.port;
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next request whose line is `METHOD path` reaches the service, but its answer is never relayed. */
  dropResponseTo(requestLine: string): void {
    this.dropResponseOf = requestLine;
  }

  /** The next request whose line is `METHOD path` is answered 503 by the proxy and never reaches the service. */
  answer503To(requestLine: string): void {
    this.refuseWith503 = requestLine;
  }

  /** Cuts every open connection, as a network failure would. */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  requests(requestLine: string): SeenRequest[] {
    return this.seen.filter((request) => `${request.method} ${request.path.split('?')[0]}` === requestLine);
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    let pending = '';
    // Body bytes of the current request still to pass before the next request head.
    let bodyLeft = 0;
    let dropNextAnswer = false;
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const skipped = Math.min(bodyLeft, pending.length);
        pending = pending.slice(skipped);
        bodyLeft -= skipped;
        const end = pending.indexOf('\r\n\r\n');
        if (bodyLeft > 0 || end < 0) break;
        const head = parseHead(pending.slice(0, end));
        pending = pending.slice(end + 4);
        if (head === undefined) continue;
        bodyLeft = Number(head.headers['content-length'] ?? 0);
        this.seen.push(head);
        const line = `${head.method} ${head.path.split('?')[0]}`;
        if (this.refuseWith503 === line) {
          this.refuseWith503 = undefined;
          const body = JSON.stringify({ error: 'unavailable', message: 'injected by the test proxy' });
          client.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
          upstream.destroy();
          return;
        }
        if (this.dropResponseOf === line) {
          this.dropResponseOf = undefined;
          dropNextAnswer = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (dropNextAnswer) {
        // The service has answered (so the command is recorded); the client never hears it.
        close();
        return;
      }
      client.write(chunk);
    });
  }
}

const parseHead = (text: string): SeenRequest | undefined => {
  const [requestLine, ...lines] = text.split('\r\n');
  const match = /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (\S+) HTTP\/1\.[01]$/.exec(requestLine ?? '');
  if (match === null) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method: match[1] ?? '', path: match[2] ?? '', headers };
};
