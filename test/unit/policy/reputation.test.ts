import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Reputation } from '../../../src/protocols/index.js';
import {
  DEFAULT_REPUTATION_HALF_LIFE_MS as H,
  decayFactor,
  recordOutcome,
  reputationScore,
  type HostOutcome,
} from '../../../src/policy/reputation.js';

const play = (outcomes: Array<[HostOutcome, number]>, host = 'h1'): Reputation | undefined =>
  outcomes.reduce<Reputation | undefined>((rep, [o, at]) => recordOutcome(rep, o, host, at), undefined);

describe('reputation', () => {
  it('reputation - unknown hosts score 0; successes raise, infra failures lower strongly', () => {
    expect(reputationScore(undefined, 0)).toBe(0);
    const good = play([['success', 0]]);
    expect(reputationScore(good, 0)).toBeCloseTo(0.5);
    const bad = play([['infra_failure', 0]]);
    expect(reputationScore(bad, 0)).toBeCloseTo(-0.75);
    // One infra failure outweighs two successes.
    expect(reputationScore(play([['success', 0], ['success', 0], ['infra_failure', 0]]), 0)).toBeLessThan(0);
  });

  it('reputation - workload failures do not count against the host', () => {
    const rep = play([['success', 0], ['workload_failure', 0], ['workload_failure', 0]]);
    expect(rep!.workload_failures).toBe(2);
    expect(reputationScore(rep, 0)).toBeCloseTo(reputationScore(play([['success', 0]]), 0));
  });

  it('reputation - old events decay with the half-life; a host earns its way back', () => {
    const bad = play([['infra_failure', 0]])!;
    expect(reputationScore(bad, 10 * H)).toBeGreaterThan(-0.01);
    const back = recordOutcome(bad, 'success', 'h1', 3 * H);
    expect(reputationScore(back, 3 * H)).toBeGreaterThan(0);
    expect(back.infra_failures).toBeCloseTo(1 / 8);
    expect(back.last_success_at).toBe(3 * H);
    expect(back.last_failure_at).toBe(0);
    expect(decayFactor(0, H)).toBeCloseTo(0.5);
    expect(decayFactor(10, 5)).toBe(1);
  });

  it('reputation - a record of another host is a defect', () => {
    expect(() => recordOutcome(play([['success', 0]], 'h1'), 'success', 'h2', 1)).toThrow(/defect/);
  });

  const arbOutcomes = fc.array(fc.tuple(fc.constantFrom<HostOutcome>('success', 'infra_failure', 'workload_failure'), fc.integer({ min: 0, max: 30 * H })), { maxLength: 40 });

  it('reputation - score stays in [-1, 1] and decays towards 0 (property)', () => {
    fc.assert(
      fc.property(arbOutcomes, fc.integer({ min: 0, max: 60 * H }), fc.integer({ min: 0, max: 60 * H }), (outcomes, t, dt) => {
        const sorted = [...outcomes].sort((a, b) => a[1] - b[1]);
        const rep = play(sorted);
        const now = (rep?.last_seen ?? 0) + t;
        const s1 = reputationScore(rep, now);
        const s2 = reputationScore(rep, now + dt);
        expect(s1).toBeGreaterThanOrEqual(-1);
        expect(s1).toBeLessThanOrEqual(1);
        expect(Math.abs(s2)).toBeLessThanOrEqual(Math.abs(s1) + 1e-12);
        if (s1 !== 0) expect(Math.sign(s2) === Math.sign(s1) || s2 === 0).toBe(true);
      }),
    );
  });

  it('reputation - score is bounded for any counters, even absurd ones (property)', () => {
    const count = fc.oneof(fc.double({ min: 0, max: 1e308, noNaN: true }), fc.constant(Number.MAX_VALUE));
    fc.assert(
      fc.property(count, count, count, fc.integer(), fc.integer(), (s, f, w, last, now) => {
        const rep: Reputation = { provider_host_id: 'h', successes: s, infra_failures: f, workload_failures: w, last_seen: last };
        const score = reputationScore(rep, now);
        expect(Number.isFinite(score)).toBe(true);
        expect(Math.abs(score)).toBeLessThanOrEqual(1);
      }),
    );
  });
});
