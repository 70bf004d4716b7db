/**
 * Read models computed from pool views: PoolHealth (llama-orch §A6, OC-POOL-3003) and the
 * capabilities document. Pure functions, so the routes stay thin and the rules are testable.
 */
import { MAX_TOKENS_LIMIT, type PoolHealth, type PoolView } from '../protocols/index.js';
import type { Capabilities, EngineCapabilities } from './types.js';

/**
 * Health of one pool.
 * - `live`: at least one replica has been probed, i.e. its health is anything but `unknown`
 *   (a replica that answers `unready` or `draining` is alive, just not serving).
 * - `ready`: at least one replica is `ready`.
 * - `draining`: the pool's state is `draining`.
 * - `last_error`: the first replica (in pool order) that reports one.
 */
export function poolHealth(pool: PoolView): PoolHealth {
  let live = false;
  let ready = 0;
  let lastError: string | undefined;
  for (const r of pool.replicas) {
    if (r.health !== 'unknown') live = true;
    if (r.health === 'ready') ready += 1;
    if (lastError === undefined && r.last_error !== undefined) lastError = r.last_error;
  }
  return {
    pool_id: pool.pool_id,
    live,
    ready: ready > 0,
    draining: pool.state === 'draining',
    ...(lastError === undefined ? {} : { last_error: lastError }),
    metrics: {
      replicas_ready: ready,
      replicas_total: pool.replicas.length,
      slots_total: pool.slots_total,
      slots_busy: pool.slots_busy,
      queued: pool.queued,
    },
  };
}

/** Capabilities aggregated per engine kind, engines sorted by name, pools in the gateway's order. */
export function capabilities(pools: readonly PoolView[]): Capabilities {
  const byEngine = new Map<string, EngineCapabilities>();
  for (const pool of pools) {
    let entry = byEngine.get(pool.engine);
    if (entry === undefined) {
      entry = {
        engine: pool.engine,
        supported_workloads: ['completion'],
        max_tokens_out: MAX_TOKENS_LIMIT,
        slots: 0,
        pools: [],
      };
      byEngine.set(pool.engine, entry);
    }
    entry.slots += pool.slots_total;
    entry.pools.push(pool.pool_id);
    for (const r of pool.replicas) {
      if (r.ctx_max !== undefined && (entry.ctx_max === undefined || r.ctx_max > entry.ctx_max)) entry.ctx_max = r.ctx_max;
    }
  }
  const engines = [...byEngine.values()].sort((a, b) => a.engine.localeCompare(b.engine));
  return { api_version: '2.0', engines };
}
