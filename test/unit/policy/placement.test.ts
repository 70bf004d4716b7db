import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { EngineKind, PlacementOverrides, ReplicaHealth } from '../../../src/protocols/index.js';
import {
  AFFINITY_BONUS,
  REJECTED_SAMPLE_CAP,
  decide,
  replicaLoad,
  type PlacementDecision,
  type PlacementJob,
  type ReplicaSnapshot,
} from '../../../src/policy/placement.js';

function rep(replica_id: string, over: Partial<ReplicaSnapshot> = {}): ReplicaSnapshot {
  return {
    replica_id,
    pool_id: 'p1',
    model: 'm',
    engine: 'vllm',
    health: 'ready',
    slots_total: 4,
    slots_busy: 0,
    ...over,
  };
}

function job(over: Partial<PlacementJob> = {}): PlacementJob {
  return { task_id: 't1', model: 'm', max_tokens: 128, ...over };
}

function overrides(over: Partial<PlacementOverrides>): PlacementOverrides {
  return { mode: 'auto', allow_fallback: true, ...over };
}

function assigned(d: PlacementDecision): string {
  if (d.kind !== 'assigned') throw new Error(`expected assigned, got ${d.kind}: ${'reason' in d ? d.reason : ''}`);
  return d.replica_id;
}

describe('decide - filters', () => {
  it('placement - assigns the least loaded ready replica and logs it', () => {
    const d = decide({ replicas: [rep('a', { slots_busy: 2 }), rep('b', { slots_busy: 1 })], job: job() });
    expect(assigned(d)).toBe('b');
    expect(d.kind === 'assigned' && d.pool_id).toBe('p1');
    expect(d.log).toMatchObject({
      candidates_considered: 2,
      filters_applied: ['model', 'ctx', 'health', 'slots'],
      tie_breakers_applied: ['score'],
      pinned: false,
      fallback_used: false,
      selected_replica_id: 'b',
      score: 0.25,
    });
  });

  it('placement - an empty fleet is POOL_UNAVAILABLE', () => {
    expect(decide({ replicas: [], job: job() })).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE', log: { candidates_considered: 0 } });
  });

  it('placement - model: a replica of another model is never chosen; none at all is POOL_UNAVAILABLE', () => {
    expect(assigned(decide({ replicas: [rep('a', { model: 'other' }), rep('b', { slots_busy: 3 })], job: job() }))).toBe('b');
    const d = decide({ replicas: [rep('a', { model: 'other' })], job: job() });
    expect(d).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE' });
    expect(d.kind === 'infeasible' && d.reason).toMatch(/no replica serves model m/);
    expect(d.log.rejected_by).toMatchObject({ model: 1 });
    expect(d.log.rejected_sample).toEqual([{ replica_id: 'a', reason: 'model' }]);
  });

  it('placement - engine: when given, only that engine serves', () => {
    const replicas = [rep('a', { engine: 'tgi' }), rep('b', { engine: 'vllm', slots_busy: 3 })];
    expect(assigned(decide({ replicas, job: job({ engine: 'vllm' }) }))).toBe('b');
    const d = decide({ replicas, job: job({ engine: 'llamacpp' }) });
    expect(d).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE' });
    expect(d.kind === 'infeasible' && d.reason).toMatch(/engine llamacpp/);
  });

  it('placement - ctx: ctx and max_tokens must fit ctx_max when known', () => {
    const replicas = [rep('small', { ctx_max: 2048 }), rep('big', { ctx_max: 8192, slots_busy: 3 }), rep('unknown', { pool_id: 'p2', slots_busy: 2 })];
    expect(assigned(decide({ replicas, job: job({ ctx: 1000 }) }))).toBe('small');
    expect(assigned(decide({ replicas: replicas.slice(0, 2), job: job({ ctx: 4096 }) }))).toBe('big');
    expect(assigned(decide({ replicas: replicas.slice(0, 2), job: job({ max_tokens: 4096 }) }))).toBe('big');
    expect(assigned(decide({ replicas, job: job({ ctx: 100_000 }) }))).toBe('unknown');
    const d = decide({ replicas: replicas.slice(0, 2), job: job({ ctx: 100_000 }) });
    expect(d).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE', log: { rejected_by: { ctx: 2 } } });
    expect(d.kind === 'infeasible' && d.reason).toMatch(/context does not fit/);
  });

  it('placement - VRAM total: a job that can never fit fails fast with POOL_UNAVAILABLE', () => {
    const d = decide({ replicas: [rep('a', { vram_total_mb: 16_000, vram_free_mb: 16_000 })], job: job({ est_vram_mb: 40_000 }) });
    expect(d).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE', log: { rejected_by: { vram_total: 1 } } });
    expect(d.kind === 'infeasible' && d.reason).toMatch(/VRAM never fits/);
    expect(d.log.filters_applied).toEqual(['model', 'ctx', 'vram_total', 'health', 'slots', 'vram_free']);
  });

  it('placement - health: unknown, unready and draining replicas make the task wait', () => {
    for (const health of ['unknown', 'unready', 'draining'] as const) {
      const d = decide({ replicas: [rep('a', { health })], job: job() });
      expect(d).toMatchObject({ kind: 'wait', log: { rejected_by: { health: 1 } } });
      expect(d.kind === 'wait' && d.reason).toMatch(/1 not ready/);
    }
    expect(assigned(decide({ replicas: [rep('a', { health: 'draining' }), rep('b', { slots_busy: 3 })], job: job() }))).toBe('b');
  });

  it('placement - slots: a replica with no free slot is skipped; all busy means wait', () => {
    expect(assigned(decide({ replicas: [rep('a', { slots_busy: 4 }), rep('b', { slots_busy: 3 })], job: job() }))).toBe('b');
    const d = decide({ replicas: [rep('a', { slots_busy: 4 }), rep('b', { slots_busy: 4 })], job: job() });
    expect(d).toMatchObject({ kind: 'wait', log: { rejected_by: { slots: 2 } } });
    expect(d.kind === 'wait' && d.reason).toMatch(/2 with no free slot/);
  });

  it('placement - VRAM free: momentarily short means wait, not fail', () => {
    const replicas = [rep('a', { vram_total_mb: 24_000, vram_free_mb: 2_000 })];
    const d = decide({ replicas, job: job({ est_vram_mb: 8_000 }) });
    expect(d).toMatchObject({ kind: 'wait', log: { rejected_by: { vram_free: 1 } } });
    expect(d.kind === 'wait' && d.reason).toMatch(/short of free VRAM/);
  });

  it('placement - avoid: avoided pools and replicas are skipped; all avoided means wait', () => {
    const replicas = [rep('a'), rep('b', { pool_id: 'p2', slots_busy: 2 }), rep('c', { pool_id: 'p3', slots_busy: 3 })];
    expect(assigned(decide({ replicas, job: job({ placement: overrides({ avoid_pools: ['p1'] }) }) }))).toBe('b');
    expect(assigned(decide({ replicas, job: job({ avoid_replicas: ['a', 'b'] }) }))).toBe('c');
    const d = decide({ replicas, job: job({ placement: overrides({ avoid_pools: ['p1', 'p2'] }), avoid_replicas: ['c'] }) });
    expect(d).toMatchObject({ kind: 'wait', log: { rejected_by: { avoid: 3 } } });
    expect(d.kind === 'wait' && d.reason).toMatch(/3 avoided/);
  });

  it('placement - the rejected sample is capped', () => {
    const replicas = Array.from({ length: 50 }, (_, i) => rep(`r${String(i).padStart(2, '0')}`, { slots_busy: 4 }));
    const d = decide({ replicas, job: job() });
    expect(d.kind).toBe('wait');
    expect(d.log.rejected_sample).toHaveLength(REJECTED_SAMPLE_CAP);
    expect(d.log.rejected_by.slots).toBe(50);
  });
});

describe('decide - pin', () => {
  const replicas = [rep('a', { pool_id: 'p1' }), rep('b', { pool_id: 'p2', slots_busy: 3 }), rep('c', { pool_id: 'p3', health: 'unready' })];
  const pin = (pool: string | undefined, extra: Partial<PlacementOverrides> = {}): PlacementJob =>
    job({ placement: overrides({ mode: 'pin', ...(pool === undefined ? {} : { pin_pool_id: pool }), ...extra }) });

  it('placement - pin: only the pinned pool, even when another is lighter', () => {
    const d = decide({ replicas, job: pin('p2') });
    expect(assigned(d)).toBe('b');
    expect(d.log).toMatchObject({ pinned: true, rejected_by: { pin: 2 } });
    expect(d.log.filters_applied).toContain('pin');
  });

  it('placement - pin: an unknown pool is INVALID_PARAMS', () => {
    expect(decide({ replicas, job: pin('nope') })).toMatchObject({ kind: 'infeasible', code: 'INVALID_PARAMS' });
    expect(decide({ replicas, job: pin(undefined) })).toMatchObject({ kind: 'infeasible', code: 'INVALID_PARAMS' });
  });

  it('placement - pin: a pool that can never run the task, or is also avoided, is INVALID_PARAMS', () => {
    const other = [...replicas, rep('x', { pool_id: 'px', model: 'other' })];
    expect(decide({ replicas: other, job: pin('px') })).toMatchObject({ kind: 'infeasible', code: 'INVALID_PARAMS' });
    expect(decide({ replicas, job: pin('p2', { avoid_pools: ['p2'] }) })).toMatchObject({ kind: 'infeasible', code: 'INVALID_PARAMS' });
  });

  it('placement - pin: a pool with no ready replica is POOL_UNREADY, never a silent fallback', () => {
    const d = decide({ replicas, job: pin('p3') });
    expect(d).toMatchObject({ kind: 'infeasible', code: 'POOL_UNREADY', log: { fallback_used: false } });
  });

  it('placement - pin: a ready but busy pinned pool waits', () => {
    const d = decide({ replicas: [...replicas, rep('d', { pool_id: 'p4', slots_busy: 4 })], job: pin('p4') });
    expect(d.kind).toBe('wait');
  });

  it('placement - pin: POOL_UNAVAILABLE comes first when nothing of the model can ever fit', () => {
    expect(decide({ replicas, job: { ...pin('nope'), model: 'ghost' } })).toMatchObject({ kind: 'infeasible', code: 'POOL_UNAVAILABLE' });
  });
});

describe('decide - prefer and fallback', () => {
  const replicas = [rep('light', { pool_id: 'p1' }), rep('pref', { pool_id: 'p2', slots_busy: 3 })];

  it('placement - prefer: a preferred candidate wins over a lighter one', () => {
    const d = decide({ replicas, job: job({ placement: overrides({ mode: 'prefer', prefer_pools: ['p2'] }) }) });
    expect(assigned(d)).toBe('pref');
    expect(d.log.fallback_used).toBe(false);
    expect(d.log.filters_applied.at(-1)).toBe('prefer');
  });

  it('placement - prefer: falls back to the rest when no preferred replica is available now', () => {
    const busy = [replicas[0]!, rep('pref', { pool_id: 'p2', slots_busy: 4 })];
    const d = decide({ replicas: busy, job: job({ placement: overrides({ mode: 'prefer', prefer_pools: ['p2'] }) }) });
    expect(assigned(d)).toBe('light');
    expect(d.log.fallback_used).toBe(true);
  });

  it('placement - prefer: with allow_fallback false it waits instead', () => {
    const busy = [replicas[0]!, rep('pref', { pool_id: 'p2', slots_busy: 4 })];
    const d = decide({ replicas: busy, job: job({ placement: overrides({ mode: 'prefer', prefer_pools: ['p2'], allow_fallback: false }) }) });
    expect(d.kind).toBe('wait');
    expect(d.kind === 'wait' && d.reason).toMatch(/allow_fallback is false/);
  });
});

describe('decide - score and tie-breakers', () => {
  it('placement - load = busy/total + 0.5*min(1, waiting/total) + 0.5*kv_usage', () => {
    expect(replicaLoad(rep('a', { slots_busy: 1 }))).toBe(0.25);
    expect(replicaLoad(rep('a', { slots_busy: 2, load: { running: 2, waiting: 2, kv_usage: 0.5 } }))).toBe(0.5 + 0.25 + 0.25);
    expect(replicaLoad(rep('a', { slots_busy: 4, load: { running: 4, waiting: 100, kv_usage: 1 } }))).toBe(2);
  });

  it('placement - engine load counts: a replica with a deep engine queue loses to an idle one', () => {
    const d = decide({ replicas: [rep('a', { load: { running: 8, waiting: 8, kv_usage: 0.9 } }), rep('b')], job: job() });
    expect(assigned(d)).toBe('b');
  });

  it('placement - equal score: more free VRAM wins, then the smaller replica id', () => {
    const byVram = decide({ replicas: [rep('a', { vram_free_mb: 1000 }), rep('b', { vram_free_mb: 9000 })], job: job() });
    expect(assigned(byVram)).toBe('b');
    expect(byVram.log.tie_breakers_applied).toEqual(['score', 'vram_free_mb']);
    const byId = decide({ replicas: [rep('b', { vram_free_mb: 1000 }), rep('a', { vram_free_mb: 1000 })], job: job() });
    expect(assigned(byId)).toBe('a');
    expect(byId.log.tie_breakers_applied).toEqual(['score', 'vram_free_mb', 'replica_id']);
    const single = decide({ replicas: [rep('a')], job: job() });
    expect(single.log.tie_breakers_applied).toEqual([]);
  });

  it('placement - the tie-breakers recorded do not depend on the order of the replicas', () => {
    const trio = [rep('a', { vram_free_mb: 1000 }), rep('b', { vram_free_mb: 1000 }), rep('c', { vram_free_mb: 9000 })];
    const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for (const o of orders) {
      const d = decide({ replicas: o.map((i) => trio[i]!), job: job() });
      expect(assigned(d)).toBe('c');
      expect(d.log.tie_breakers_applied).toEqual(['score', 'vram_free_mb']);
    }
  });

  it('placement - session affinity decides between replicas of about the same load', () => {
    const replicas = [rep('a'), rep('b', { warm_sessions: new Set(['s1']) })];
    const d = decide({ replicas, job: job({ session_id: 's1' }) });
    expect(assigned(d)).toBe('b');
    expect(d.log.score).toBeCloseTo(-AFFINITY_BONUS);
  });

  it('placement - session affinity never beats a much lighter replica', () => {
    const replicas = [rep('warm', { slots_busy: 3, warm_sessions: new Set(['s1']) }), rep('cold', { slots_busy: 0 })];
    expect(assigned(decide({ replicas, job: job({ session_id: 's1' }) }))).toBe('cold');
  });
});

// ---------- properties ----------

const POOLS = ['p1', 'p2', 'p3'] as const;

/** `undefined` about `absentWeight` times out of `absentWeight + 1`: keeps most jobs feasible. */
function sometimes<T>(arb: fc.Arbitrary<T>, absentWeight = 2): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}
const ENGINES_USED: readonly EngineKind[] = ['vllm', 'tgi'];

const replicaFieldsArb = fc.record({
  pool_id: fc.constantFrom(...POOLS),
  model: fc.constantFrom('m', 'm', 'm', 'x'),
  engine: fc.constantFrom(...ENGINES_USED),
  health: fc.constantFrom<ReplicaHealth>('ready', 'ready', 'ready', 'ready', 'unready', 'draining', 'unknown'),
  slots_total: fc.integer({ min: 1, max: 4 }),
  busy: fc.nat(4),
  ctx_max: sometimes(fc.constantFrom(512, 4096, 8192, 32_768), 1),
  vram_total_mb: sometimes(fc.constantFrom(8_000, 24_000, 80_000), 1),
  vram_free_frac: sometimes(fc.constantFrom(0, 0.25, 0.5, 1), 1),
  load: sometimes(fc.record({ running: fc.nat(8), waiting: fc.nat(8), kv_usage: fc.constantFrom(0, 0.25, 0.5, 0.9) }), 1),
  warm: sometimes(fc.subarray(['s1', 's2']), 1),
});

const replicasArb: fc.Arbitrary<ReplicaSnapshot[]> = fc.array(replicaFieldsArb, { minLength: 1, maxLength: 12 }).map((fs) =>
  fs.map((f, i) => {
    const r: ReplicaSnapshot = {
      replica_id: `r${String(i).padStart(2, '0')}`,
      pool_id: f.pool_id,
      model: f.model,
      engine: f.engine,
      health: f.health,
      slots_total: f.slots_total,
      slots_busy: Math.min(f.busy, f.slots_total),
    };
    if (f.ctx_max !== undefined) r.ctx_max = f.ctx_max;
    if (f.vram_total_mb !== undefined) {
      r.vram_total_mb = f.vram_total_mb;
      if (f.vram_free_frac !== undefined) r.vram_free_mb = f.vram_total_mb * f.vram_free_frac;
    }
    if (f.load !== undefined) r.load = f.load;
    if (f.warm !== undefined) r.warm_sessions = new Set(f.warm);
    return r;
  }),
);

const jobArb: fc.Arbitrary<PlacementJob> = fc
  .record({
    model: fc.constantFrom('m', 'm', 'm', 'm', 'm', 'x', 'ghost'),
    engine: sometimes(fc.constantFrom<EngineKind>('vllm', 'tgi', 'llamacpp'), 3),
    ctx: sometimes(fc.constantFrom(0, 1000, 4000, 100_000), 3),
    max_tokens: fc.constantFrom(16, 256, 256, 4096),
    session_id: sometimes(fc.constantFrom('s1', 's2'), 1),
    est_vram_mb: sometimes(fc.constantFrom(1_000, 4_000, 10_000, 50_000)),
    avoid_replicas: sometimes(fc.subarray(['r00', 'r01', 'r02', 'r05'])),
    placement: sometimes(
      fc.record({
        mode: fc.constantFrom<PlacementOverrides['mode']>('auto', 'prefer', 'pin'),
        pin_pool_id: sometimes(fc.constantFrom('p1', 'p2', 'p3', 'ghost'), 1),
        prefer_pools: sometimes(fc.subarray([...POOLS, 'ghost']), 1),
        avoid_pools: sometimes(fc.subarray([...POOLS])),
        allow_fallback: fc.boolean(),
      }),
      1,
    ),
  })
  .map((f) => {
    const j: PlacementJob = { task_id: 't', model: f.model, max_tokens: f.max_tokens };
    if (f.engine !== undefined) j.engine = f.engine;
    if (f.ctx !== undefined) j.ctx = f.ctx;
    if (f.session_id !== undefined) j.session_id = f.session_id;
    if (f.est_vram_mb !== undefined) j.est_vram_mb = f.est_vram_mb;
    if (f.avoid_replicas !== undefined) j.avoid_replicas = f.avoid_replicas;
    if (f.placement !== undefined) {
      const p: PlacementOverrides = { mode: f.placement.mode, allow_fallback: f.placement.allow_fallback };
      if (f.placement.pin_pool_id !== undefined) p.pin_pool_id = f.placement.pin_pool_id;
      if (f.placement.prefer_pools !== undefined) p.prefer_pools = f.placement.prefer_pools;
      if (f.placement.avoid_pools !== undefined) p.avoid_pools = f.placement.avoid_pools;
      j.placement = p;
    }
    return j;
  });

// Reference predicates, written independently of decide() from the contract.
function servesEver(r: ReplicaSnapshot, j: PlacementJob): boolean {
  if (r.model !== j.model) return false;
  if (j.engine !== undefined && r.engine !== j.engine) return false;
  if (r.ctx_max !== undefined && ((j.ctx ?? 0) > r.ctx_max || j.max_tokens > r.ctx_max)) return false;
  if (j.est_vram_mb !== undefined && r.vram_total_mb !== undefined && j.est_vram_mb > r.vram_total_mb) return false;
  return true;
}

/** Passes every filter except the free-slot one (and the prefer restriction). */
function eligibleIgnoringSlots(r: ReplicaSnapshot, j: PlacementJob): boolean {
  const p = j.placement;
  if (!servesEver(r, j)) return false;
  if (p?.mode === 'pin' && (p.pin_pool_id === undefined || r.pool_id !== p.pin_pool_id)) return false;
  if (p?.avoid_pools?.includes(r.pool_id) === true) return false;
  if (j.avoid_replicas?.includes(r.replica_id) === true) return false;
  if (r.health !== 'ready') return false;
  if (j.est_vram_mb !== undefined && r.vram_free_mb !== undefined && j.est_vram_mb > r.vram_free_mb) return false;
  return true;
}

function prefers(j: PlacementJob): ReadonlySet<string> | undefined {
  const p = j.placement;
  return p !== undefined && p.mode !== 'pin' && p.prefer_pools !== undefined && p.prefer_pools.length > 0
    ? new Set(p.prefer_pools)
    : undefined;
}

/** A deterministic permutation from a seed (Fisher–Yates with a small LCG). */
function permute<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const k = s % (i + 1);
    [out[i], out[k]] = [out[k]!, out[i]!];
  }
  return out;
}

const RUNS = { numRuns: 500 };

describe('decide - properties', () => {
  it('placement - deterministic: same input, same decision, log included', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (replicas, j) => {
        expect(decide({ replicas, job: j })).toEqual(decide({ replicas: structuredClone(replicas), job: structuredClone(j) }));
      }),
      RUNS,
    );
  });

  it('placement - the choice does not depend on the order of the replicas', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, fc.nat(), (replicas, j, seed) => {
        const a = decide({ replicas, job: j });
        const b = decide({ replicas: permute(replicas, seed), job: j });
        const strip = (d: PlacementDecision): unknown => ({ ...d, log: { ...d.log, rejected_sample: d.log.rejected_sample.length } });
        expect(strip(b)).toEqual(strip(a));
      }),
      RUNS,
    );
  });

  it('placement - never picks a replica that fails a filter; an assigned replica has a free slot', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (replicas, j) => {
        const d = decide({ replicas, job: j });
        if (d.kind !== 'assigned') return;
        const r = replicas.find((x) => x.replica_id === d.replica_id)!;
        expect(eligibleIgnoringSlots(r, j)).toBe(true);
        expect(r.slots_busy).toBeLessThan(r.slots_total);
        expect(d.pool_id).toBe(r.pool_id);
        const pref = prefers(j);
        if (pref !== undefined && !pref.has(r.pool_id)) {
          expect(d.log.fallback_used).toBe(true);
          expect(j.placement?.allow_fallback).not.toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('placement - affinity never overrides a clearly lighter candidate', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (replicas, j) => {
        if (prefers(j) !== undefined) return;
        const d = decide({ replicas, job: j });
        if (d.kind !== 'assigned') return;
        const chosen = replicaLoad(replicas.find((x) => x.replica_id === d.replica_id)!);
        for (const c of replicas) {
          if (eligibleIgnoringSlots(c, j) && c.slots_busy < c.slots_total) {
            expect(chosen).toBeLessThanOrEqual(replicaLoad(c) + AFFINITY_BONUS + 1e-9);
          }
        }
      }),
      RUNS,
    );
  });

  it('placement - a slot is never handed out twice, and every free eligible slot is handed out', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (initial, j) => {
        const replicas = initial.map((r) => ({ ...r }));
        const pref = prefers(j);
        const onlyPreferred = pref !== undefined && j.placement?.allow_fallback === false;
        let expected = 0;
        for (const r of replicas) {
          if (eligibleIgnoringSlots(r, j) && (!onlyPreferred || pref.has(r.pool_id))) expected += r.slots_total - r.slots_busy;
        }
        let handedOut = 0;
        for (;;) {
          const d = decide({ replicas, job: j });
          if (d.kind !== 'assigned') break;
          const r = replicas.find((x) => x.replica_id === d.replica_id)!;
          r.slots_busy += 1;
          expect(r.slots_busy).toBeLessThanOrEqual(r.slots_total);
          handedOut += 1;
          expect(handedOut).toBeLessThanOrEqual(expected);
        }
        expect(handedOut).toBe(expected);
      }),
      RUNS,
    );
  });

  it('placement - infeasible POOL_UNAVAILABLE iff no replica of the model passes the ever filters', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (replicas, j) => {
        const d = decide({ replicas, job: j });
        const unavailable = d.kind === 'infeasible' && d.code === 'POOL_UNAVAILABLE';
        expect(unavailable).toBe(!replicas.some((r) => servesEver(r, j)));
      }),
      RUNS,
    );
  });

  it('placement - the log accounts for every replica', () => {
    fc.assert(
      fc.property(replicasArb, jobArb, (replicas, j) => {
        const d = decide({ replicas, job: j });
        const rejected = Object.values(d.log.rejected_by).reduce((a, b) => a + b, 0);
        expect(d.log.candidates_considered).toBe(replicas.length);
        expect(rejected).toBeLessThanOrEqual(replicas.length);
        expect(d.log.rejected_sample.length).toBe(Math.min(rejected, REJECTED_SAMPLE_CAP));
        for (const f of Object.keys(d.log.rejected_by)) expect(d.log.filters_applied).toContain(f);
      }),
      RUNS,
    );
  });
});
