import type { AccountCommand } from '../../../src/domain/account.commands';
import { decide, type Decision } from '../../../src/domain/account.decider';
import type { AccountEvent } from '../../../src/domain/account.events';
import {
  evolve,
  fold,
  initialAccountState,
  type AccountState,
  type CommandRecord,
  type EvolveOptions,
} from '../../../src/domain/account.state';
import { InvariantViolation } from '../../../src/domain/assert';
import type { LedgerError, LedgerErrorCode } from '../../../src/domain/ledger-error';
import { RETENTION_MS } from './account.fixtures';

/**
 * given(events).when(command).then(events), after Emmett's DeciderSpecification: the
 * history is folded with positions 1..n, the command is decided against it, and the
 * outcome is compared as data (codes and amounts, never messages).
 */
export const DEFAULT_OPTIONS: EvolveOptions = { idempotencyRetentionMs: RETENTION_MS };

type InsufficientDetails = { readonly requiredMillicredits: number; readonly availableMillicredits: number };

/** insufficient_credits must name its amounts; every other code has none to check. */
type RejectionDetails<C extends LedgerErrorCode> = C extends 'insufficient_credits' ? [details: InsufficientDetails] : [];

export interface Outcome {
  /** The command was accepted with exactly these events; returns the state after them. */
  then(expected: readonly AccountEvent[]): AccountState;
  /** The command was refused with this code (and, for insufficient_credits, these amounts). */
  thenRejected<C extends LedgerErrorCode>(code: C, ...details: RejectionDetails<C>): Extract<LedgerError, { code: C }>;
  /** The command is a repeat: the recorded outcome comes back and nothing is appended. */
  thenReplayed(): CommandRecord;
  /** A programmer error: deciding crashes with an InvariantViolation. */
  thenCrashes(): void;
}

export interface Given {
  readonly state: AccountState;
  when(command: AccountCommand): Outcome;
}

/** Low-balance alerts are off (threshold 0) unless a test's history sets a threshold. */
const QUIET_START: AccountState = { ...initialAccountState, lowBalanceThresholdMillicredits: 0 };

export const given = (history: readonly AccountEvent[], options: EvolveOptions = DEFAULT_OPTIONS): Given => {
  const state = fold(QUIET_START, history.map((event, index) => ({ event, position: index + 1 })), options);
  return { state, when: (command) => outcomeOf(state, command, history.length, options) };
};

const outcomeOf = (state: AccountState, command: AccountCommand, lastPosition: number, options: EvolveOptions): Outcome => {
  const decided = (): Decision => decide(command, state, options);
  return {
    then(expected) {
      const decision = decided();
      expect(decision).toStrictEqual({ status: 'accepted', events: expected });
      // Whatever decide accepts must be appliable: evolve it as the store would.
      return expected.reduce((after, event, index) => evolve(after, event, lastPosition + index + 1, options), state);
    },
    thenRejected<C extends LedgerErrorCode>(code: C, ...details: RejectionDetails<C>) {
      const decision = decided();
      if (decision.status !== 'rejected') {
        throw new Error(`expected a refusal with ${code}, got ${JSON.stringify(summary(decision))}`);
      }
      expect(decision.error.code).toBe(code);
      const [amounts] = details;
      if (decision.error.code === 'insufficient_credits' && amounts !== undefined) {
        const { requiredMillicredits, availableMillicredits } = decision.error;
        expect({ requiredMillicredits, availableMillicredits }).toEqual(amounts);
      }
      return decision.error as Extract<LedgerError, { code: C }>;
    },
    thenReplayed() {
      const decision = decided();
      const recorded = state.commands.get(command.commandId);
      expect(recorded).toBeDefined();
      expect(decision).toStrictEqual({ status: 'replayed', record: recorded });
      return recorded as CommandRecord;
    },
    thenCrashes() {
      expect(decided).toThrow(InvariantViolation);
    },
  };
};

const summary = (decision: Decision): unknown =>
  decision.status === 'accepted'
    ? { status: decision.status, events: decision.events.map((event) => event.type) }
    : decision.status === 'rejected'
      ? decision
      : decision.status === 'unchanged'
        ? decision
        : { status: decision.status, commandId: decision.record.commandId };
