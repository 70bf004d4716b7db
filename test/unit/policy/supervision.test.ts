import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  backoffDelay,
  checkRestart,
  defaultDirective,
  pruneRestarts,
} from '../../../src/policy/supervision.js';
import type { Backoff, RestartLimit } from '../../../src/policy/supervision.js';

const backoffArb: fc.Arbitrary<Backoff> = fc
  .record({
    a: fc.integer({ min: 0, max: 100_000 }),
    b: fc.integer({ min: 0, max: 100_000 }),
    randomFactor: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ a, b, randomFactor }) => ({
    minBackoffMs: Math.min(a, b),
    maxBackoffMs: Math.max(a, b),
    randomFactor,
  }));

const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const limitArb: fc.Arbitrary<RestartLimit> = fc.record({
  maxRestarts: fc.integer({ min: 0, max: 10 }),
  withinMs: fc.integer({ min: 1, max: 10_000 }),
});

/** Nondecreasing crash times built from gaps. */
const crashTimesArb = fc
  .array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 60 })
  .map((gaps) => {
    let t = 1_000_000;
    return gaps.map((g) => (t += g));
  });

function runCrashes(times: number[], limit: RestartLimit): number[] {
  let history: number[] = [];
  const allowed: number[] = [];
  for (const now of times) {
    const check = checkRestart(history, now, limit);
    history = check.history;
    if (check.allowed) allowed.push(now);
  }
  return allowed;
}

describe('supervision - backoff delay', () => {
  it('grows as min * 2^n up to max, without jitter at random 0.5', () => {
    const b: Backoff = { minBackoffMs: 100, maxBackoffMs: 1000, randomFactor: 0.2 };
    expect([0, 1, 2, 3, 4, 50, 5000].map((n) => backoffDelay(n, b, 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it('applies the random factor symmetrically', () => {
    const b: Backoff = { minBackoffMs: 100, maxBackoffMs: 1000, randomFactor: 0.5 };
    expect(backoffDelay(0, b, 0)).toBe(50);
    expect(backoffDelay(0, b, 0.75)).toBe(125);
  });

  it('is never negative, even with a random factor above 1', () => {
    expect(backoffDelay(0, { minBackoffMs: 100, maxBackoffMs: 100, randomFactor: 3 }, 0)).toBe(0);
  });

  it('always lies in [min * (1 - rf), max * (1 + rf)]', () => {
    fc.assert(
      fc.property(backoffArb, fc.nat({ max: 2000 }), randomArb, (b, n, r) => {
        const d = backoffDelay(n, b, r);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(b.minBackoffMs * (1 - b.randomFactor) - 1e-9);
        expect(d).toBeLessThanOrEqual(b.maxBackoffMs * (1 + b.randomFactor) + 1e-9);
      }),
    );
  });

  it('is deterministic for the same inputs', () => {
    fc.assert(
      fc.property(backoffArb, fc.nat({ max: 100 }), randomArb, (b, n, r) => {
        expect(backoffDelay(n, b, r)).toBe(backoffDelay(n, { ...b }, r));
      }),
    );
  });
});

describe('supervision - restart intensity', () => {
  const limit: RestartLimit = { maxRestarts: 3, withinMs: 5000 };

  it('allows maxRestarts inside the window, then escalates', () => {
    let history: number[] = [];
    const results = [0, 100, 200, 300].map((now) => {
      const check = checkRestart(history, now, limit);
      history = check.history;
      return [check.allowed, check.restartsInWindow];
    });
    expect(results).toEqual([
      [true, 0],
      [true, 1],
      [true, 2],
      [false, 3],
    ]);
  });

  it('forgets restarts older than the window', () => {
    const check = checkRestart([0, 100, 200], 5100, limit);
    expect(check).toEqual({ allowed: true, history: [200, 5100], restartsInWindow: 1 });
    expect(pruneRestarts([0, 100, 200], 5000, limit)).toEqual([100, 200]);
  });

  it('a limit of 0 restarts always escalates', () => {
    expect(checkRestart([], 0, { maxRestarts: 0, withinMs: 1000 }).allowed).toBe(false);
  });

  it('never allows more than maxRestarts inside any window of withinMs', () => {
    fc.assert(
      fc.property(crashTimesArb, limitArb, (times, lim) => {
        const allowed = runCrashes(times, lim);
        for (const t of allowed) {
          const inWindow = allowed.filter((s) => s <= t && t - s < lim.withinMs).length;
          expect(inWindow).toBeLessThanOrEqual(lim.maxRestarts);
        }
      }),
    );
  });

  it('keeps the history bounded by maxRestarts', () => {
    fc.assert(
      fc.property(crashTimesArb, limitArb, (times, lim) => {
        let history: number[] = [];
        for (const now of times) {
          history = checkRestart(history, now, lim).history;
          expect(history.length).toBeLessThanOrEqual(lim.maxRestarts);
        }
      }),
    );
  });

  it('is deterministic for the same inputs', () => {
    fc.assert(
      fc.property(crashTimesArb, limitArb, (times, lim) => {
        expect(runCrashes(times, lim)).toEqual(runCrashes([...times], { ...lim }));
      }),
    );
  });
});

describe('supervision - default directive', () => {
  it('follows the OTP child kinds', () => {
    expect(defaultDirective('permanent', 'crashed')).toBe('restart');
    expect(defaultDirective('permanent', 'normal')).toBe('restart');
    expect(defaultDirective('transient', 'crashed')).toBe('restart');
    expect(defaultDirective('transient', 'normal')).toBe('stop');
    expect(defaultDirective('temporary', 'crashed')).toBe('stop');
    expect(defaultDirective('temporary', 'normal')).toBe('stop');
  });
});
