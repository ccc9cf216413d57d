/**
 * Runs tasks with the same key one after another, in arrival order; different keys run
 * in parallel. Within one process this is the single writer of an account: commands
 * for it never race each other, so the expected-revision check only has to settle
 * races with other processes.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(task, task);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return current;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
