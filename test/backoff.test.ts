import { describe, expect, it } from 'vitest';
import { CiviError, type CiviErrorKind } from '../src/civicrm/errors.js';
import { DEFAULT_BACKOFF, failureFor, type BackoffPolicy } from '../src/sync/worker.js';

const POLICY: BackoffPolicy = { baseMs: 1_000, maxMs: 60_000, maxAttempts: 5 };
const NOW = 1_700_000_000_000;

const civiError = (kind: CiviErrorKind, retryable: boolean, message = `CiviCRM Group.get: ${kind} failure`) =>
  new CiviError(message, { entity: 'Group', action: 'get', kind, retryable });

/** The delay (ms from NOW) of a failure that is not dead; fails the test when it is dead. */
function delay(error: unknown, attemptsSoFar: number, random: number, policy = POLICY): number {
  const failure = failureFor(error, attemptsSoFar, policy, NOW, () => random);
  expect(failure.retryAt, `dead after ${attemptsSoFar} attempts: ${failure.error}`).toBeDefined();
  return failure.retryAt! - NOW;
}

/** The ceiling of the delay after the (attemptsSoFar + 1)th failure. */
const ceiling = (attemptsSoFar: number, policy = POLICY) => Math.min(policy.maxMs, policy.baseMs * 2 ** attemptsSoFar);

describe('an outage (transport or auth)', () => {
  const outages = [
    ['transport, retryable', civiError('transport', true)],
    ['transport, not retryable (say HTTP 404)', civiError('transport', false)],
    ['auth', civiError('auth', false)],
    ['auth, marked retryable', civiError('auth', true)],
  ] as const;

  it.each(outages)('%s is never dead, however many attempts', (_, error) => {
    for (const attemptsSoFar of [0, 1, 4, 5, 6, 50, 1_000, 1_000_000]) {
      const failure = failureFor(error, attemptsSoFar, POLICY, NOW, () => 0.5);
      expect(failure.retryAt).toBeDefined();
      expect(failure.retryAt!).toBeGreaterThan(NOW);
    }
  });

  it.each(outages)('%s keeps the message', (_, error) => {
    expect(failureFor(error, 0, POLICY, NOW, () => 0).error).toBe(error.message);
  });

  it('backs off exponentially: the ceiling doubles from baseMs', () => {
    const error = civiError('transport', true);
    expect([0, 1, 2, 3, 4, 5].map((n) => delay(error, n, 1))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
  });

  it('is capped at maxMs', () => {
    const error = civiError('transport', true);
    for (const attemptsSoFar of [6, 7, 10, 31, 32, 100, 10_000]) {
      expect(delay(error, attemptsSoFar, 1)).toBe(POLICY.maxMs);
      expect(delay(error, attemptsSoFar, 0)).toBe(POLICY.maxMs / 2);
    }
  });

  it('draws the delay within [ceiling/2, ceiling] from `random`', () => {
    const error = civiError('auth', false);
    for (const attemptsSoFar of [0, 1, 2, 3, 4, 5, 6, 9]) {
      const top = ceiling(attemptsSoFar);
      expect(delay(error, attemptsSoFar, 0)).toBe(top / 2);
      expect(delay(error, attemptsSoFar, 0.5)).toBe(Math.round(top * 0.75));
      expect(delay(error, attemptsSoFar, 0.999_999)).toBe(Math.round(top * (0.5 + 0.999_999 * 0.5)));
      for (const r of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999_999]) {
        const d = delay(error, attemptsSoFar, r);
        expect(d).toBeGreaterThanOrEqual(top / 2);
        expect(d).toBeLessThanOrEqual(top);
      }
    }
  });

  it('spreads retries: different random draws give different delays', () => {
    const error = civiError('transport', true);
    const delays = new Set([0, 0.2, 0.4, 0.6, 0.8].map((r) => delay(error, 3, r)));
    expect(delays.size).toBe(5);
  });

  it('uses Math.random by default and stays within the bounds', () => {
    const error = civiError('transport', true);
    for (let i = 0; i < 200; i++) {
      const failure = failureFor(error, 2, POLICY, NOW);
      const d = failure.retryAt! - NOW;
      expect(d).toBeGreaterThanOrEqual(2_000);
      expect(d).toBeLessThanOrEqual(4_000);
    }
  });

  it('works with the default policy: 1 s first, 5 minutes at most', () => {
    const error = civiError('transport', true);
    expect(delay(error, 0, 1, DEFAULT_BACKOFF)).toBe(1_000);
    expect(delay(error, 0, 0, DEFAULT_BACKOFF)).toBe(500);
    expect(delay(error, 40, 1, DEFAULT_BACKOFF)).toBe(5 * 60_000);
    expect(failureFor(error, DEFAULT_BACKOFF.maxAttempts * 10, DEFAULT_BACKOFF, NOW, () => 0).retryAt).toBeDefined();
  });
});

describe('an API error', () => {
  it('that is not retryable is dead at once, with its message', () => {
    const error = civiError('api', false, 'CiviCRM Group.create: DB Error: already exists');
    for (const attemptsSoFar of [0, 1, 3]) {
      const failure = failureFor(error, attemptsSoFar, POLICY, NOW, () => 0.5);
      expect(failure).toEqual({ error: 'CiviCRM Group.create: DB Error: already exists' });
      expect(failure.retryAt).toBeUndefined();
    }
  });

  it('that is retryable backs off until maxAttempts, then is dead', () => {
    const error = civiError('api', true, 'CiviCRM Group.create: Deadlock found; try restarting transaction');
    // Attempts 1 … maxAttempts-1 failed: try again, with the same backoff as an outage.
    for (let attemptsSoFar = 0; attemptsSoFar < POLICY.maxAttempts - 1; attemptsSoFar++) {
      expect(delay(error, attemptsSoFar, 1)).toBe(ceiling(attemptsSoFar));
      expect(delay(error, attemptsSoFar, 0)).toBe(ceiling(attemptsSoFar) / 2);
    }
    // The maxAttempts-th failure: dead.
    for (const attemptsSoFar of [POLICY.maxAttempts - 1, POLICY.maxAttempts, POLICY.maxAttempts + 10]) {
      expect(failureFor(error, attemptsSoFar, POLICY, NOW, () => 0.5)).toEqual({ error: error.message });
    }
  });

  it('with maxAttempts 1 is dead on its first failure even when retryable', () => {
    expect(failureFor(civiError('api', true), 0, { ...POLICY, maxAttempts: 1 }, NOW, () => 0.5).retryAt).toBeUndefined();
  });
});

describe('anything else', () => {
  it('a plain Error (a store hiccup, an unexpected bug) is retried, and dead after maxAttempts', () => {
    const error = new Error('OG group 7: CiviCRM still differs');
    expect(failureFor(error, 0, POLICY, NOW, () => 0.5).retryAt).toBeGreaterThan(NOW);
    expect(failureFor(error, POLICY.maxAttempts - 1, POLICY, NOW, () => 0.5)).toEqual({ error: 'OG group 7: CiviCRM still differs' });
  });

  it('an Error that merely looks like a CiviError is no outage: it dies after maxAttempts', () => {
    const lookalike = Object.assign(new Error('socket hang up'), { kind: 'transport', retryable: true });
    expect(failureFor(lookalike, POLICY.maxAttempts - 1, POLICY, NOW, () => 0.5).retryAt).toBeUndefined();
  });

  it('a thrown non-Error keeps its text', () => {
    expect(failureFor('boom', POLICY.maxAttempts - 1, POLICY, NOW, () => 0.5)).toEqual({ error: 'boom' });
  });
});
