/**
 * Learns how each account command ended, for operations (metrics). The write path calls
 * it after the fact and never waits for it; an implementation must not throw.
 */
export interface CommandObserver {
  /** `outcome` is the executor's answer (`applied`, `replayed`, `unchanged`, `rejected` with its code), or `failed` when it threw. */
  commandEnded(commandType: string, outcome: { readonly status: string; readonly error?: { readonly code: string } } | 'failed'): void;
}

export const COMMAND_OBSERVER = Symbol('CommandObserver');
