/** One dispatched Server-Sent Events message. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  /** The last event id seen on the stream so far (what to send as Last-Event-ID). */
  readonly lastEventId: string;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, "Server-sent
 * events"): feed it decoded text in chunks of any size; it calls back for each message
 * and for each `retry:` field. Lines end in CRLF, LF or CR; comments start with ':'.
 */
export class SseParser {
  private buffer = '';
  private pendingCr = false;
  private data: string[] = [];
  private event = '';
  private lastEventId = '';

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (milliseconds: number) => void = () => undefined,
  ) {}

  get currentLastEventId(): string {
    return this.lastEventId;
  }

  push(text: string): void {
    let chunk = text;
    // A CR ending the previous chunk may be the first half of a CRLF.
    if (this.pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCr = false;
    this.buffer += chunk;
    let start = 0;
    for (let index = 0; index < this.buffer.length; index += 1) {
      const char = this.buffer[index];
      if (char !== '\n' && char !== '\r') continue;
      this.line(this.buffer.slice(start, index));
      if (char === '\r') {
        if (index + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer[index + 1] === '\n') index += 1;
      }
      start = index + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        return;
      case 'data':
        this.data.push(value);
        return;
      case 'id':
        if (!value.includes('\u0000')) this.lastEventId = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        return;
      default:
        return;
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      this.event = '';
      return;
    }
    const message = { event: this.event === '' ? 'message' : this.event, data: this.data.join('\n'), lastEventId: this.lastEventId };
    this.data = [];
    this.event = '';
    this.onMessage(message);
  }
}
