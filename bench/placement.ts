/**
 * Placement suite: time per `decide()` over 10, 100, 1,000 and 10,000 replicas of one model with
 * mixed load (seeded, so every run sees the same sets), in-process. Each size is warmed up, then
 * timed decision by decision with `process.hrtime.bigint()` over several rounds; the result is the
 * p50/p99 of all decisions, the tolerance half the spread of the per-round figures.
 *
 * Knobs: `BENCH_PLACEMENT_DECISIONS` (decisions per round, default 2,000 quick / 5,000 full),
 * `BENCH_PLACEMENT_ROUNDS` (default 3), `BENCH_PLACEMENT_SIZES` (comma list).
 */
import { decide, type PlacementJob, type ReplicaSnapshot } from '../src/policy/placement.js';
import type { BenchOptions, BenchRow, BenchSuite } from './types.js';
import { envInt, halfSpread, quantile, round, seededRandom } from './lib.js';

const MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';
const P99_TARGET_MS = 1;
const TARGET_SIZE = 10_000;

/** A seeded replica set of one model: mostly ready, mixed slot and engine load, some warm sessions. */
export function replicaSet(size: number, seed: number): ReplicaSnapshot[] {
  const rnd = seededRandom(seed);
  const out: ReplicaSnapshot[] = [];
  for (let i = 0; i < size; i += 1) {
    const slotsTotal = [4, 8, 16][Math.floor(rnd() * 3)] as number;
    const h = rnd();
    const vramTotal = 24_564;
    out.push({
      replica_id: `r-${seed}-${i.toString().padStart(5, '0')}`,
      pool_id: `pool-${i % 4}`,
      model: MODEL,
      engine: 'vllm',
      // ~90 % ready, the rest unready/draining/unknown.
      health: h < 0.9 ? 'ready' : h < 0.95 ? 'unready' : h < 0.98 ? 'draining' : 'unknown',
      slots_total: slotsTotal,
      // Mixed load, ~15 % of replicas full.
      slots_busy: rnd() < 0.15 ? slotsTotal : Math.floor(rnd() * slotsTotal),
      ctx_max: 4_096,
      vram_total_mb: vramTotal,
      vram_free_mb: Math.floor(rnd() * vramTotal * 0.5),
      load: { running: Math.floor(rnd() * slotsTotal), waiting: Math.floor(rnd() * 4), kv_usage: rnd() },
      ...(rnd() < 0.2 ? { warm_sessions: new Set([`s-${Math.floor(rnd() * 64)}`]) } : {}),
    });
  }
  return out;
}

/** Jobs cycled through the decisions: plain, with a session, with a ctx and VRAM estimate, avoiding a replica. */
function jobs(replicas: readonly ReplicaSnapshot[]): PlacementJob[] {
  const out: PlacementJob[] = [];
  for (let i = 0; i < 64; i += 1) {
    const job: PlacementJob = { task_id: `t-${i}`, model: MODEL, max_tokens: 64 };
    if (i % 2 === 0) job.session_id = `s-${i}`;
    if (i % 3 === 0) job.ctx = 2_048;
    if (i % 5 === 0) job.est_vram_mb = 2_000;
    if (i % 7 === 0 && replicas.length > 0) job.avoid_replicas = [(replicas[i % replicas.length] as ReplicaSnapshot).replica_id];
    out.push(job);
  }
  return out;
}

/** Times `count` decisions; returns the per-decision durations in ms, sorted. */
function timeDecisions(replicas: readonly ReplicaSnapshot[], js: readonly PlacementJob[], count: number): Float64Array {
  const d = new Float64Array(count);
  let sink = 0;
  for (let i = 0; i < count; i += 1) {
    const job = js[i % js.length] as PlacementJob;
    const t0 = process.hrtime.bigint();
    const r = decide({ replicas, job });
    const t1 = process.hrtime.bigint();
    d[i] = Number(t1 - t0) / 1e6;
    if (r.kind === 'assigned') sink += 1;
  }
  if (sink < 0) throw new Error('unreachable');
  return d.sort();
}

/** `decide()` p50/p99 at each replica-set size. */
export const placementSuite: BenchSuite = async (opts: BenchOptions): Promise<BenchRow[]> => {
  const rows: BenchRow[] = [];
  const sizes = (process.env.BENCH_PLACEMENT_SIZES ?? '10,100,1000,10000').split(',').map(Number);
  const perRound = envInt('BENCH_PLACEMENT_DECISIONS', opts.quick ? 2_000 : 5_000);
  const rounds = envInt('BENCH_PLACEMENT_ROUNDS', 3);
  for (const size of sizes) {
    const workload = `${size.toLocaleString('en-US')} replicas of 1 model, mixed load (seeded), ${rounds}×${perRound} decisions`;
    try {
      const replicas = replicaSet(size, 42 + size);
      const js = jobs(replicas);
      // Warm-up: let the JIT settle on this shape and size.
      timeDecisions(replicas, js, Math.max(200, Math.min(2_000, Math.floor(200_000 / size))));
      const all: number[] = [];
      const p50s: number[] = [];
      const p99s: number[] = [];
      for (let r = 0; r < rounds; r += 1) {
        const d = timeDecisions(replicas, js, perRound);
        p50s.push(quantile(d, 0.5));
        p99s.push(quantile(d, 0.99));
        for (const x of d) all.push(x);
        await new Promise((res) => setImmediate(res));
      }
      all.sort((a, b) => a - b);
      const samples = all.length;
      const p99 = quantile(all, 0.99);
      rows.push({ suite: 'placement', workload, contender: 'decide()', metric: 'decision p50', value: round(quantile(all, 0.5), 4), unit: 'ms', samples, tolerance: round(halfSpread(p50s), 4) });
      rows.push({
        suite: 'placement',
        workload,
        contender: 'decide()',
        metric: 'decision p99',
        value: round(p99, 4),
        unit: 'ms',
        samples,
        tolerance: round(halfSpread(p99s), 4),
        ...(size === TARGET_SIZE ? { target: { text: `p99 ≤ ${P99_TARGET_MS} ms at 10,000 replicas`, met: p99 <= P99_TARGET_MS } } : {}),
      });
      opts.log(`placement: ${size} replicas p50 ${quantile(all, 0.5).toFixed(4)} ms p99 ${p99.toFixed(4)} ms`);
    } catch (err) {
      rows.push({ suite: 'placement', workload, contender: 'decide()', metric: 'decision p99', value: NaN, unit: 'ms', samples: 0, error: (err as Error).message });
    }
  }
  return rows;
};
