/**
 * Placement: `decide(input) → decision`, pure and deterministic, with a decision log
 * (DESIGN §7; llama-orch ORCH-3900…3908 and OC-CORE-1010…1017 in seed-projects §A7).
 *
 * Filters first, then a score in which load is always present (anchors §3: prefix/affinity-only
 * routing overloads replicas). The answer is one of three kinds:
 * - `assigned`: a ready replica with a free slot;
 * - `wait`: something could fit later (busy, unready, VRAM momentarily short) — keep it queued;
 * - `infeasible`: nothing can ever fit — fail fast with a typed code.
 *
 * `decide()` runs on every dispatch and must stay ≤ 1 ms p99 at 10,000 replicas: it is a single
 * linear pass with counters, it never sorts the candidates and it allocates nothing per candidate
 * (the rejected sample is capped).
 */
import type { EngineKind, PlacementOverrides, ReplicaHealth } from '../protocols/index.js';

/** One replica as placement sees it: the pool's status merged with the slots placement owns. */
export interface ReplicaSnapshot {
  replica_id: string;
  pool_id: string;
  model: string;
  engine: EngineKind;
  health: ReplicaHealth;
  /** Concurrent tasks Drover may run on this replica. */
  slots_total: number;
  /** Slots placement has handed out and not yet released. */
  slots_busy: number;
  ctx_max?: number;
  vram_total_mb?: number;
  vram_free_mb?: number;
  /** Engine-reported load (vLLM /metrics); absent means unknown, scored as idle engine-side. */
  load?: { running: number; waiting: number; kv_usage: number };
  /** Sessions whose KV cache is warm on this replica. */
  warm_sessions?: ReadonlySet<string>;
}

/** The task to place. */
export interface PlacementJob {
  task_id: string;
  model: string;
  engine?: EngineKind;
  ctx?: number;
  max_tokens: number;
  session_id?: string;
  est_vram_mb?: number;
  placement?: PlacementOverrides;
  /** Replicas to skip, e.g. the one a retried task just failed on. */
  avoid_replicas?: readonly string[];
}

/** What `decide()` looked at and why it chose; published with placement metrics and logs. */
export interface DecisionLog {
  candidates_considered: number;
  /** Filters that were active for this job, in the order they were applied. */
  filters_applied: string[];
  /** Filter name → replicas it rejected (each replica counts once, under its first failing filter). */
  rejected_by: Record<string, number>;
  /** A few rejected replicas with the filter that rejected them (capped at {@link REJECTED_SAMPLE_CAP}). */
  rejected_sample: Array<{ replica_id: string; reason: string }>;
  /** Tie-breakers that were needed to separate the winner from the other candidates. */
  tie_breakers_applied: string[];
  pinned: boolean;
  fallback_used: boolean;
  selected_replica_id?: string;
  score?: number;
}

/** The outcome of `decide()`. */
export type PlacementDecision =
  | { kind: 'assigned'; replica_id: string; pool_id: string; log: DecisionLog }
  /** Could fit later: busy, unready, VRAM momentarily short. */
  | { kind: 'wait'; reason: string; log: DecisionLog }
  /** Nothing can ever fit: fail fast. */
  | {
      kind: 'infeasible';
      code: 'POOL_UNAVAILABLE' | 'POOL_UNREADY' | 'INVALID_PARAMS';
      reason: string;
      log: DecisionLog;
    };

/** Input of {@link decide}. */
export interface PlacementInput {
  replicas: readonly ReplicaSnapshot[];
  job: PlacementJob;
}

/**
 * Filter names, in application order. `model`, `engine`, `ctx` and `vram_total` are the "ever"
 * filters (a replica failing them can never run the job); `health`, `slots` and `vram_free` are
 * the "now" filters; `pin` and `avoid` come from the job's overrides.
 */
export const PLACEMENT_FILTERS = [
  'model',
  'engine',
  'pin',
  'avoid',
  'ctx',
  'vram_total',
  'health',
  'slots',
  'vram_free',
] as const;
/** One filter name of {@link PLACEMENT_FILTERS}. */
export type PlacementFilter = (typeof PLACEMENT_FILTERS)[number];

/** Maximum entries in {@link DecisionLog.rejected_sample}: enough to debug, bounded at any fleet size. */
export const REJECTED_SAMPLE_CAP = 8;

/**
 * Score subtracted for a replica holding the session's warm KV cache. Small on purpose: it equals
 * a tenth of a replica's slots, so it only decides between replicas of about the same load and
 * never overrides a clearly lighter one (llm-d: affinity without load overloads replicas).
 */
export const AFFINITY_BONUS = 0.1;

/**
 * Load of a replica (lower is lighter), in [0, 2]:
 * `slots_busy/slots_total + 0.5 * min(1, waiting/slots_total) + 0.5 * kv_usage`.
 *
 * - `slots_busy/slots_total` is Drover's own in-flight share: exact and current (placement owns
 *   the slots), so it dominates.
 * - `waiting/slots_total` is the engine's own queue (vLLM `num_requests_waiting`), normalised by
 *   capacity and capped at 1 because it comes from a scrape that may be seconds old; it catches
 *   work Drover did not place there.
 * - `kv_usage` predicts preemption and slow prefill when the KV cache is nearly full.
 *
 * The engine terms weigh half as much as the slot term because they are stale. Unknown engine
 * load counts as 0 (only the slot term remains). Requires `slots_total > 0`.
 */
export function replicaLoad(r: ReplicaSnapshot): number {
  const total = r.slots_total;
  let load = r.slots_busy / total;
  const l = r.load;
  if (l !== undefined) {
    const waiting = l.waiting > 0 ? l.waiting / total : 0;
    const kv = l.kv_usage > 0 ? (l.kv_usage < 1 ? l.kv_usage : 1) : 0;
    load += 0.5 * (waiting < 1 ? waiting : 1) + 0.5 * kv;
  }
  return load;
}

/** Score of a candidate (lower is better): its load minus {@link AFFINITY_BONUS} if the session is warm there. */
export function replicaScore(r: ReplicaSnapshot, sessionId: string | undefined): number {
  const load = replicaLoad(r);
  return sessionId !== undefined && r.warm_sessions?.has(sessionId) === true ? load - AFFINITY_BONUS : load;
}

/**
 * Running minimum over candidates under the total order (score asc, vram_free_mb desc,
 * replica_id asc), plus which tie-breakers were needed. `tiedScore` / `tiedVram` mean "another
 * candidate has the winner's score" / "…and the same free VRAM"; they are maintained so that they
 * do not depend on the order candidates arrive in (see `offer`).
 */
class Best {
  replica: ReplicaSnapshot | undefined = undefined;
  score = 0;
  vram = 0;
  count = 0;
  tiedScore = false;
  tiedVram = false;

  offer(r: ReplicaSnapshot, score: number, vram: number): void {
    this.count += 1;
    const cur = this.replica;
    if (cur === undefined || score < this.score) {
      // Every earlier candidate scored ≥ the old best > this one: nobody ties with it.
      this.tiedScore = false;
      this.tiedVram = false;
    } else if (score > this.score) {
      return;
    } else if (vram > this.vram) {
      // Equal score; earlier equal-score candidates had ≤ the old best's VRAM < this one's.
      this.tiedScore = true;
      this.tiedVram = false;
    } else if (vram < this.vram) {
      this.tiedScore = true;
      return;
    } else {
      this.tiedScore = true;
      this.tiedVram = true;
      if (r.replica_id >= cur.replica_id) return;
    }
    this.replica = r;
    this.score = score;
    this.vram = vram;
  }

  tieBreakers(): string[] {
    if (this.count < 2) return [];
    const used = ['score'];
    if (this.tiedScore) used.push('vram_free_mb');
    if (this.tiedVram) used.push('replica_id');
    return used;
  }
}

/**
 * Chooses a replica for a job, or says why not (pure, deterministic; with unique replica ids the
 * choice does not depend on the order of `replicas`).
 *
 * Filters, in order (each recorded in `filters_applied`, each replica counted under its first
 * failing filter): serves the model (and engine if given); pin (`placement.mode === 'pin'`: only
 * `pin_pool_id`); avoid (`avoid_pools`, `avoid_replicas`); context fits (`ctx ?? 0` and
 * `max_tokens` ≤ `ctx_max` when known); VRAM ever fits (`est_vram_mb` ≤ `vram_total_mb` when
 * both known); ready health; a free slot; VRAM free now. Then `prefer_pools` (when not pinned):
 * preferred candidates first, the others only if `allow_fallback` (default true).
 *
 * Outcomes, in precedence order:
 * 1. No replica of the model passes the ever filters (model, engine, ctx, VRAM total), whatever
 *    the overrides → infeasible POOL_UNAVAILABLE, naming the filter that emptied the set.
 * 2. Pin: no `pin_pool_id`, an unknown pool, a pinned pool that cannot ever run the job, or a
 *    pinned pool that is also avoided → infeasible INVALID_PARAMS; a pinned pool with no ready
 *    replica → infeasible POOL_UNREADY. A pin never falls back silently.
 * 3. The best candidate by (score asc, vram_free_mb desc, replica_id asc) → assigned.
 * 4. Otherwise → wait, with the reason (busy, unready, VRAM short, avoided, no preferred).
 */
export function decide(input: PlacementInput): PlacementDecision {
  const { replicas, job } = input;
  const p = job.placement;
  const pinned = p?.mode === 'pin';
  const pinPool = pinned ? p?.pin_pool_id : undefined;
  const avoidPools = p?.avoid_pools !== undefined && p.avoid_pools.length > 0 ? new Set(p.avoid_pools) : undefined;
  const avoidReplicas =
    job.avoid_replicas !== undefined && job.avoid_replicas.length > 0 ? new Set(job.avoid_replicas) : undefined;
  const prefer =
    !pinned && p?.prefer_pools !== undefined && p.prefer_pools.length > 0 ? new Set(p.prefer_pools) : undefined;
  const allowFallback = p?.allow_fallback ?? true;
  const engine = job.engine;
  const ctx = job.ctx ?? 0;
  const estVram = job.est_vram_mb;
  const session = job.session_id;

  const filters: PlacementFilter[] = ['model'];
  if (engine !== undefined) filters.push('engine');
  if (pinned) filters.push('pin');
  if (avoidPools !== undefined || avoidReplicas !== undefined) filters.push('avoid');
  filters.push('ctx');
  if (estVram !== undefined) filters.push('vram_total');
  filters.push('health', 'slots');
  if (estVram !== undefined) filters.push('vram_free');

  const rejected: Record<PlacementFilter, number> = {
    model: 0,
    engine: 0,
    pin: 0,
    avoid: 0,
    ctx: 0,
    vram_total: 0,
    health: 0,
    slots: 0,
    vram_free: 0,
  };
  const sample: Array<{ replica_id: string; reason: string }> = [];
  const reject = (r: ReplicaSnapshot, f: PlacementFilter): void => {
    rejected[f] += 1;
    if (sample.length < REJECTED_SAMPLE_CAP) sample.push({ replica_id: r.replica_id, reason: f });
  };

  // Counters for the "ever" verdicts; they ignore pin and avoid on purpose (see outcome 1).
  let modelCount = 0; // serve the model (and engine)
  let ctxOkCount = 0; // … and fit the context
  let everCount = 0; // … and fit the VRAM total
  let pinKnown = 0; // replicas of the pinned pool (any model)
  let pinEver = 0; // … that pass the ever filters
  let pinReady = 0; // … and are ready

  const main = new Best(); // all candidates, or the preferred ones when prefer_pools is set
  const rest = new Best(); // non-preferred candidates (fallback)

  for (const r of replicas) {
    const inPin = pinPool !== undefined && r.pool_id === pinPool;
    if (inPin) pinKnown += 1;
    if (r.model !== job.model) {
      reject(r, 'model');
      continue;
    }
    if (engine !== undefined && r.engine !== engine) {
      reject(r, 'engine');
      continue;
    }
    modelCount += 1;
    const ctxOk = r.ctx_max === undefined || (ctx <= r.ctx_max && job.max_tokens <= r.ctx_max);
    const vramTotalOk = estVram === undefined || r.vram_total_mb === undefined || estVram <= r.vram_total_mb;
    if (ctxOk) {
      ctxOkCount += 1;
      if (vramTotalOk) {
        everCount += 1;
        if (inPin) {
          pinEver += 1;
          if (r.health === 'ready') pinReady += 1;
        }
      }
    }
    if (pinned && !inPin) {
      reject(r, 'pin');
      continue;
    }
    if (avoidPools?.has(r.pool_id) === true || avoidReplicas?.has(r.replica_id) === true) {
      reject(r, 'avoid');
      continue;
    }
    if (!ctxOk) {
      reject(r, 'ctx');
      continue;
    }
    if (!vramTotalOk) {
      reject(r, 'vram_total');
      continue;
    }
    if (r.health !== 'ready') {
      reject(r, 'health');
      continue;
    }
    if (!(r.slots_busy < r.slots_total)) {
      reject(r, 'slots');
      continue;
    }
    if (estVram !== undefined && r.vram_free_mb !== undefined && estVram > r.vram_free_mb) {
      reject(r, 'vram_free');
      continue;
    }
    const score = replicaScore(r, session);
    const vram = r.vram_free_mb ?? Number.NEGATIVE_INFINITY;
    if (prefer === undefined || prefer.has(r.pool_id)) main.offer(r, score, vram);
    else rest.offer(r, score, vram);
  }

  const filtersApplied: string[] = [...filters];
  if (prefer !== undefined) filtersApplied.push('prefer');
  const rejectedBy: Record<string, number> = {};
  for (const f of filters) rejectedBy[f] = rejected[f];
  const log: DecisionLog = {
    candidates_considered: replicas.length,
    filters_applied: filtersApplied,
    rejected_by: rejectedBy,
    rejected_sample: sample,
    tie_breakers_applied: [],
    pinned,
    fallback_used: false,
  };
  const what = engine === undefined ? `model ${job.model}` : `model ${job.model} on engine ${engine}`;

  // 1. Nothing can ever fit.
  if (everCount === 0) {
    let reason: string;
    if (modelCount === 0) reason = `no replica serves ${what}`;
    else if (ctxOkCount === 0) {
      reason = `context does not fit: ctx ${ctx} / max_tokens ${job.max_tokens} exceed ctx_max of all ${modelCount} replica(s) of ${what}`;
    } else {
      reason = `VRAM never fits: est_vram_mb ${String(estVram)} exceeds vram_total_mb of all ${ctxOkCount} replica(s) of ${what} that fit the context`;
    }
    return { kind: 'infeasible', code: 'POOL_UNAVAILABLE', reason, log };
  }

  // 2. Pin: explicit, never a silent fallback.
  if (pinned) {
    if (pinPool === undefined) {
      return { kind: 'infeasible', code: 'INVALID_PARAMS', reason: 'placement.mode is pin but pin_pool_id is missing', log };
    }
    if (pinKnown === 0) {
      return { kind: 'infeasible', code: 'INVALID_PARAMS', reason: `pinned pool ${pinPool} is unknown`, log };
    }
    if (pinEver === 0) {
      return {
        kind: 'infeasible',
        code: 'INVALID_PARAMS',
        reason: `pinned pool ${pinPool} can never run this task (it does not serve ${what}, or the context or VRAM does not fit)`,
        log,
      };
    }
    if (avoidPools?.has(pinPool) === true) {
      return { kind: 'infeasible', code: 'INVALID_PARAMS', reason: `pool ${pinPool} is both pinned and avoided`, log };
    }
    if (pinReady === 0) {
      return { kind: 'infeasible', code: 'POOL_UNREADY', reason: `pinned pool ${pinPool} has no ready replica`, log };
    }
  }

  // 3. Assign.
  let chosen: Best | undefined;
  if (main.replica !== undefined) chosen = main;
  else if (rest.replica !== undefined && allowFallback) {
    chosen = rest;
    log.fallback_used = true;
  }
  if (chosen?.replica !== undefined) {
    const r = chosen.replica;
    log.tie_breakers_applied = chosen.tieBreakers();
    log.selected_replica_id = r.replica_id;
    log.score = chosen.score;
    return { kind: 'assigned', replica_id: r.replica_id, pool_id: r.pool_id, log };
  }

  // 4. Wait.
  if (rest.replica !== undefined) {
    return {
      kind: 'wait',
      reason: `no preferred pool has a free ready replica and allow_fallback is false (${rest.count} other candidate(s) available)`,
      log,
    };
  }
  const parts: string[] = [];
  if (rejected.avoid > 0) parts.push(`${rejected.avoid} avoided`);
  if (rejected.health > 0) parts.push(`${rejected.health} not ready`);
  if (rejected.slots > 0) parts.push(`${rejected.slots} with no free slot`);
  if (rejected.vram_free > 0) parts.push(`${rejected.vram_free} short of free VRAM`);
  const scope = pinned ? `pinned pool ${String(pinPool)}` : what;
  return { kind: 'wait', reason: `no replica of ${scope} can take the task now: ${parts.join(', ')}`, log };
}
