import type { AccountEvent } from '../../../src/domain/account.events';
import { evolve, fold, initialAccountState, type AccountState, type EvolveOptions } from '../../../src/domain/account.state';
import { draw, granted, used } from './account.fixtures';

/**
 * The idempotency window over long histories: forgetting the oldest records event after event
 * (and the copies of the records map that keep that cheap) leaves exactly the window's records,
 * oldest first, as evolving one event at a time does.
 */
const MINUTE_MS = 60_000;
const OPTIONS: EvolveOptions = { idempotencyRetentionMs: 60 * MINUTE_MS };
const at = (minutes: number): string => new Date(Date.UTC(2026, 0, 1) + minutes * MINUTE_MS).toISOString();

const GRANT = 'key:grant';
const spend = (index: number, minute: number): AccountEvent => used(`key:spend-${index}`, at(minute), 'sms', 1, 1000, [draw(GRANT, 1000)]);

/** A grant, then `count` spends at the given minutes. */
const history = (minutes: readonly number[]): { event: AccountEvent; position: number }[] => [
  { event: granted(GRANT, at(0), (minutes.length + 1) * 1000, null), position: 0 },
  ...minutes.map((minute, index) => ({ event: spend(index, minute), position: index + 1 })),
];

const oneByOne = (events: readonly { event: AccountEvent; position: number }[]): AccountState =>
  events.reduce((state, { event, position }) => evolve(state, event, position, OPTIONS), initialAccountState);

describe('the idempotency window over a long history', () => {
  it('keeps exactly the last hour of records, oldest first, when one is forgotten at every event', () => {
    // One spend a minute for 2,000 minutes: from minute 60 on, each event forgets one record.
    const events = history(Array.from({ length: 2000 }, (_, index) => index + 1));
    const folded = fold(initialAccountState, events, OPTIONS);

    const window = Array.from({ length: 61 }, (_, index) => `key:spend-${1939 + index}`);
    expect([...folded.commands.keys()]).toEqual(window);
    expect([...folded.commands.values()].map((record) => record.position)).toEqual(window.map((_, index) => 1940 + index));
    expect(folded).toEqual(oneByOne(events));
  });

  it('forgets a whole window at once after a gap, and keeps counting from there', () => {
    const minutes = [...Array.from({ length: 500 }, (_, index) => index + 1), ...Array.from({ length: 300 }, (_, index) => 10_000 + index)];
    const events = history(minutes);
    const folded = fold(initialAccountState, events, OPTIONS);

    expect([...folded.commands.keys()]).toEqual(Array.from({ length: 61 }, (_, index) => `key:spend-${739 + index}`));
    expect(folded).toEqual(oneByOne(events));
    // The folded state goes on as any other: the next event forgets the next oldest.
    const next = evolve(folded, spend(800, 10_300), 801, OPTIONS);
    expect([...next.commands.keys()][0]).toBe('key:spend-740');
    expect(next.commands.size).toBe(61);
  });
});
