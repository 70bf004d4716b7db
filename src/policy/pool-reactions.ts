/**
 * What a PoolActor does when one of its hosts fails (DESIGN §3 and the §5 table): the reaction per
 * failure class. The host is always destroyed — a HostActor is a `temporary` child, never restarted
 * in place, and a failed rental must stop billing. What differs is who is blamed:
 *
 * | class                  | blacklist         | reputation        | respawn | budget |
 * |------------------------|-------------------|-------------------|---------|--------|
 * | INFRA_FATAL            | global            | infra_failure     | yes     | —      |
 * | WORKLOAD_INCOMPATIBLE  | this workload     | —                 | yes     | —      |
 * | WORKLOAD_FATAL         | never             | workload_failure  | yes, until past the budget | counts |
 * | UNKNOWN                | never             | —                 | yes     | —      |
 * | WARMUP                 | a defect: a warming host has not failed                     |
 *
 * WORKLOAD_FATAL says our config is wrong, so another host would fail the same way: past the
 * pool's budget (`failure_budget`: at most `max` within `withinMs`) the pool is failed and nothing
 * is respawned — no further spending until an operator acts. While the pool's window is over the
 * budget, no class respawns. UNKNOWN respawns without blame; an endless UNKNOWN loop is bounded by
 * the PoolActor's restart intensity (DESIGN §3), not here.
 *
 * Pure: `now` comes in as an argument.
 */
import type { HostFailure } from '../protocols/index.js';

/** Input of {@link reactToHostFailure}. */
export interface HostFailureInput {
  failure: HostFailure;
  /** `workloadKey(engine, model)` of the pool. */
  workload: string;
  providerHostId: string;
  poolBudget: {
    /** Timestamps of the pool's earlier WORKLOAD_FATAL failures. */
    failures: number[];
    /** WORKLOAD_FATAL failures allowed within `withinMs`; one more fails the pool. */
    max: number;
    withinMs: number;
  };
  now: number;
}

/** The effects the PoolActor performs, in this order: blacklist, reputation, destroy, respawn or fail the pool. */
export interface HostFailureReaction {
  blacklist?: { scope: 'global' | 'workload'; reason: string };
  reputation?: 'infra_failure' | 'workload_failure';
  destroy: true;
  respawn: boolean;
  /** The WORKLOAD_FATAL timestamps still inside the window (plus `now` for a WORKLOAD_FATAL): the next `failures`. */
  budget: number[];
  /** Set when the budget is exceeded: the pool is failed with this reason. */
  poolFailed?: { reason: string };
}

/**
 * The reaction to one host failure (table in the module comment). Throws on WARMUP: a host that is
 * still warming has not failed, and reaching here with it is a broken invariant of the caller.
 */
export function reactToHostFailure(input: HostFailureInput): HostFailureReaction {
  const { failure, now } = input;
  const { max, withinMs } = input.poolBudget;
  if (failure.class === 'WARMUP') {
    throw new Error(`defect: reactToHostFailure called with WARMUP for host ${input.providerHostId} (a warming host has not failed)`);
  }
  const budget = input.poolBudget.failures.filter((t) => now - t < withinMs);
  if (failure.class === 'WORKLOAD_FATAL') budget.push(now);
  const overBudget = budget.length > max;
  const poolFailed = overBudget
    ? { reason: `${budget.length} workload failures within ${Math.round(withinMs / 1000)} s exceed the budget of ${max} (last: ${failure.reason})` }
    : undefined;
  const base = { destroy: true as const, respawn: !overBudget, budget, ...(poolFailed === undefined ? {} : { poolFailed }) };

  switch (failure.class) {
    case 'INFRA_FATAL':
      return { ...base, blacklist: { scope: 'global', reason: `infra: ${failure.reason}` }, reputation: 'infra_failure' };
    case 'WORKLOAD_INCOMPATIBLE':
      return { ...base, blacklist: { scope: 'workload', reason: `incompatible with ${input.workload}: ${failure.reason}` } };
    case 'WORKLOAD_FATAL':
      return { ...base, reputation: 'workload_failure' };
    case 'UNKNOWN':
      return base;
  }
}
