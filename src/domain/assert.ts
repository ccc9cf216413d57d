/**
 * Programmer errors crash: a broken invariant is never an expected outcome to handle.
 * Expected outcomes (insufficient credits, key reused…) are typed values instead.
 */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
