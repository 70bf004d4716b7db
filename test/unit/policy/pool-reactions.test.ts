import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FailureClass, HostFailure } from '../../../src/protocols/index.js';
import { reactToHostFailure, type HostFailureInput } from '../../../src/policy/pool-reactions.js';

const HOUR = 3_600_000;

function input(cls: FailureClass, failures: number[] = [], now = 10 * HOUR, max = 2): HostFailureInput {
  const failure: HostFailure = { class: cls, reason: `${cls} reason`, stage: 'port_bound', evidence: 'e' };
  return { failure, workload: 'vllm:Qwen/Qwen2.5-1.5B-Instruct', providerHostId: 'vast-42', poolBudget: { failures, max, withinMs: HOUR }, now };
}

describe('reactToHostFailure', () => {
  it('pool - INFRA_FATAL: global blacklist, infra reputation, destroy, respawn', () => {
    const r = reactToHostFailure(input('INFRA_FATAL'));
    expect(r).toMatchObject({ blacklist: { scope: 'global' }, reputation: 'infra_failure', destroy: true, respawn: true, budget: [] });
    expect(r.poolFailed).toBeUndefined();
  });

  it('pool - WORKLOAD_INCOMPATIBLE: workload-scoped blacklist, destroy, respawn', () => {
    const r = reactToHostFailure(input('WORKLOAD_INCOMPATIBLE'));
    expect(r.blacklist?.scope).toBe('workload');
    expect(r.blacklist?.reason).toContain('vllm:Qwen/Qwen2.5-1.5B-Instruct');
    expect(r.reputation).toBeUndefined();
    expect(r).toMatchObject({ destroy: true, respawn: true });
  });

  it('pool - WORKLOAD_FATAL: no blacklist, counts against the budget, fails the pool past it', () => {
    const now = 10 * HOUR;
    const first = reactToHostFailure(input('WORKLOAD_FATAL', [], now));
    expect(first).toMatchObject({ reputation: 'workload_failure', destroy: true, respawn: true, budget: [now] });
    expect(first.blacklist).toBeUndefined();
    const second = reactToHostFailure(input('WORKLOAD_FATAL', first.budget, now + 1));
    expect(second.respawn).toBe(true);
    const third = reactToHostFailure(input('WORKLOAD_FATAL', second.budget, now + 2));
    expect(third.respawn).toBe(false);
    expect(third.poolFailed?.reason).toMatch(/3 workload failures/);
    expect(third.blacklist).toBeUndefined();
  });

  it('pool - failures older than the window no longer count', () => {
    const now = 10 * HOUR;
    const r = reactToHostFailure(input('WORKLOAD_FATAL', [now - 2 * HOUR, now - HOUR, now - HOUR + 1], now));
    expect(r.budget).toEqual([now - HOUR + 1, now]);
    expect(r.respawn).toBe(true);
  });

  it('pool - UNKNOWN: destroy and respawn, never blacklist, no budget', () => {
    const r = reactToHostFailure(input('UNKNOWN', [1]));
    expect(r).toEqual({ destroy: true, respawn: true, budget: [] });
  });

  it('pool - WARMUP reaching here is a defect', () => {
    expect(() => reactToHostFailure(input('WARMUP'))).toThrow(/defect/);
  });

  it('pool - an infra failure while the pool is over budget blacklists but does not respawn', () => {
    const now = 10 * HOUR;
    const r = reactToHostFailure(input('INFRA_FATAL', [now - 3, now - 2, now - 1], now));
    expect(r.blacklist?.scope).toBe('global');
    expect(r.respawn).toBe(false);
    expect(r.poolFailed).toBeDefined();
  });

  it('pool - properties: never blacklist WORKLOAD_FATAL/UNKNOWN, always destroy, never respawn once failed', () => {
    const cls = fc.constantFrom<FailureClass>('INFRA_FATAL', 'WORKLOAD_INCOMPATIBLE', 'WORKLOAD_FATAL', 'UNKNOWN');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(cls, fc.integer({ min: 0, max: HOUR / 2 })), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 5 }),
        (events, max) => {
          let budget: number[] = [];
          let now = 0;
          let failed = false;
          for (const [c, gap] of events) {
            now += gap;
            const r = reactToHostFailure({ ...input(c, budget, now, max) });
            expect(r.destroy).toBe(true);
            if (c === 'WORKLOAD_FATAL' || c === 'UNKNOWN') expect(r.blacklist).toBeUndefined();
            if (c === 'INFRA_FATAL') expect(r.blacklist?.scope).toBe('global');
            if (c === 'WORKLOAD_INCOMPATIBLE') expect(r.blacklist?.scope).toBe('workload');
            if (r.poolFailed !== undefined) expect(r.respawn).toBe(false);
            expect(r.respawn).toBe(r.poolFailed === undefined);
            expect(r.budget.every((t) => now - t < HOUR)).toBe(true);
            expect(r.budget.length).toBeLessThanOrEqual(budget.length + 1);
            failed ||= r.poolFailed !== undefined;
            budget = r.budget;
          }
          // The pool fails exactly when some window held more WORKLOAD_FATAL failures than the budget.
          if (!events.some(([c]) => c === 'WORKLOAD_FATAL')) expect(failed).toBe(false);
        },
      ),
    );
  });
});
