/**
 * Per-machine host reputation with decay (DESIGN §5, anchors (b)1): nobody in the field remembers
 * that machine X failed before; Drover does, and forgets slowly, so a host can earn its way back.
 *
 * The record (KV `drover_reputation`) keeps exponentially decayed event weights as of `last_seen`:
 * each event adds 1 to its counter, and every counter loses half its weight per half-life. That is
 * an exact per-event decay with O(1) state — `successes` is therefore "recent successes", a
 * fractional weight, not a lifetime total.
 *
 * The score weighs infra failures {@link INFRA_FAILURE_WEIGHT}× a success (one dead GPU costs more
 * paid minutes than one good boot earns) and ignores workload failures (they say our config is
 * wrong, not the machine). A prior of {@link SCORE_PRIOR} pseudo-events keeps one event from
 * pinning the score to ±1 and pulls every score back to 0 as its events decay.
 *
 * Pure: `now` comes in as an argument.
 */
import type { Reputation } from '../protocols/index.js';

/** Default half-life of reputation events: a day, so a host that failed yesterday still ranks
 * below an unknown one, while last week's failure is mostly forgiven. */
export const DEFAULT_REPUTATION_HALF_LIFE_MS = 24 * 60 * 60 * 1000;

/** How many successes one infra failure cancels. */
export const INFRA_FAILURE_WEIGHT = 3;

/** Pseudo-events in the score's denominator: one recent success scores 0.5, one infra failure -0.75. */
export const SCORE_PRIOR = 1;

/** What happened on a host, as the pool records it. */
export type HostOutcome = 'success' | 'infra_failure' | 'workload_failure';

/** The factor by which weights recorded at `since` have decayed at `now` (1 when `now <= since`). */
export function decayFactor(since: number, now: number, halfLifeMs = DEFAULT_REPUTATION_HALF_LIFE_MS): number {
  const dt = now - since;
  if (!(dt > 0) || !(halfLifeMs > 0)) return 1;
  return 2 ** (-dt / halfLifeMs);
}

/**
 * The host's score at `now`, in [-1, 1]: positive for hosts that recently booted fine, negative for
 * hosts that recently broke, 0 for unknown hosts and for hosts whose history has decayed away.
 * `(s - W·f) / (s + W·f + prior)` with `s`, `f` the decayed success and infra-failure weights.
 */
export function reputationScore(rep: Reputation | undefined, now: number, halfLifeMs = DEFAULT_REPUTATION_HALF_LIFE_MS): number {
  if (rep === undefined) return 0;
  const d = decayFactor(rep.last_seen, now, halfLifeMs);
  const s = finiteNonNegative(rep.successes) * d;
  const f = finiteNonNegative(rep.infra_failures) * d * INFRA_FAILURE_WEIGHT;
  const score = (s - f) / (s + f + SCORE_PRIOR);
  if (!Number.isFinite(score)) return s > f ? 1 : s < f ? -1 : 0;
  return Math.max(-1, Math.min(1, score));
}

/**
 * The record after one more outcome at `now`: the existing weights are decayed to `now`, the
 * outcome's counter gains 1. `last_failure_at` is set for either kind of failure. An outcome older
 * than `last_seen` is added without decay (events are not reordered). Throws when `rep` belongs to
 * another host — a broken invariant of the caller.
 */
export function recordOutcome(
  rep: Reputation | undefined,
  outcome: HostOutcome,
  providerHostId: string,
  now: number,
  halfLifeMs = DEFAULT_REPUTATION_HALF_LIFE_MS,
): Reputation {
  if (rep !== undefined && rep.provider_host_id !== providerHostId) {
    throw new Error(`defect: reputation of host ${rep.provider_host_id} recorded for host ${providerHostId}`);
  }
  const d = rep === undefined ? 1 : decayFactor(rep.last_seen, now, halfLifeMs);
  const next: Reputation = {
    provider_host_id: providerHostId,
    successes: finiteNonNegative(rep?.successes) * d + (outcome === 'success' ? 1 : 0),
    infra_failures: finiteNonNegative(rep?.infra_failures) * d + (outcome === 'infra_failure' ? 1 : 0),
    workload_failures: finiteNonNegative(rep?.workload_failures) * d + (outcome === 'workload_failure' ? 1 : 0),
    last_seen: rep === undefined ? now : Math.max(rep.last_seen, now),
  };
  const lastSuccess = outcome === 'success' ? now : rep?.last_success_at;
  const lastFailure = outcome === 'success' ? rep?.last_failure_at : now;
  if (lastSuccess !== undefined) next.last_success_at = lastSuccess;
  if (lastFailure !== undefined) next.last_failure_at = lastFailure;
  return next;
}

function finiteNonNegative(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : 0;
}
