/** A small HTTP client over fetch (keep-alive by default): status, headers and the exact bytes of each answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: any;
}

export interface CallOptions {
  readonly token?: string;
  readonly body?: unknown;
  /** Raw bytes or text sent as they are (no JSON encoding). */
  readonly raw?: Buffer | string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

export const call = async (baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> => {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: Buffer | string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds or fails with `describe()` after `timeoutMs`. */
export const waitFor = async (
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string = () => '',
  /** A reason to stop waiting at once (say, the process died), or undefined. */
  hopeless: () => string | undefined = () => undefined,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    const reason = hopeless();
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${describe()}`);
    await sleep(200);
  }
};
