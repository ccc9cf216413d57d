import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export type ToProjectionsWorker = 'appended' | 'stop';
export type FromProjectionsWorker =
  | { readonly kind: 'started' }
  | { readonly kind: 'error'; readonly projection: string; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

const ENTRY = join(__dirname, 'projections-worker.js');

/** An error as one line of the log: its stack where it has one. */
export const errorText = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error));
const RESTART_AFTER_MS = 1000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * The compiled worker, when there is one: the service built into dist/ runs its
 * projections in a thread; run from its TypeScript sources (the test runner), where a
 * worker cannot load the entry, it runs them in its own thread as before.
 */
export const projectionsWorkerEntry = (): string | undefined => (existsSync(ENTRY) ? ENTRY : undefined);

/**
 * Runs the projection group in a worker thread of this process. The main thread tells it
 * of each append (so it reads at once, not at its next poll) and keeps nothing of its
 * state: progress is in the checkpoints table, which read-your-writes and /health read.
 * A worker that dies is started again after a second; the runner inside it retries on
 * its own after a failed batch, so only a bug ends one.
 */
export class ProjectionThread {
  readonly where = 'a worker thread';
  private worker: Worker | undefined;
  private stopping = false;

  constructor(
    private readonly entry: string,
    private readonly onError: (projection: string, error: unknown) => void,
  ) {}

  start(): Promise<void> {
    this.stopping = false;
    return this.spawn();
  }

  /** Something was appended: the worker's subscription reads now. */
  appended(): void {
    this.worker?.postMessage('appended' satisfies ToProjectionsWorker);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop' satisfies ToProjectionsWorker);
    const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    this.worker = undefined;
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(this.entry);
      this.worker = worker;
      let started = false;
      worker.on('message', (message: FromProjectionsWorker) => {
        if (message.kind === 'started') {
          started = true;
          resolve();
        } else if (message.kind === 'error') {
          this.onError(message.projection, message.message);
        } else if (message.kind === 'failed') {
          if (!started) reject(new Error(`the projections worker failed to start: ${message.message}`));
          else this.onError('projections worker', message.message);
        }
      });
      worker.on('error', (error) => {
        if (!started) reject(error);
        else this.onError('projections worker', error);
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        if (!started) return reject(new Error(`the projections worker exited with ${code} before it started`));
        if (this.stopping) return;
        this.onError('projections worker', `exited with ${code}; starting it again`);
        setTimeout(() => {
          if (!this.stopping) this.spawn().catch((error: unknown) => this.onError('projections worker', error));
        }, RESTART_AFTER_MS).unref();
      });
    });
  }
}
