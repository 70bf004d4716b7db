/**
 * Merges what PoolActors report (replica health and load) with what placement owns (slots handed
 * out, tasks queued per model) into the views of `GET /v2/pools`.
 */
import type { PoolStatus, PoolView, TaskSpec } from '../protocols/index.js';

/** Pool views, all or the one with `poolId`. */
export function buildPoolViews(
  pools: ReadonlyMap<string, PoolStatus>,
  busy: ReadonlyMap<string, number>,
  queued: ReadonlyMap<string, { spec: TaskSpec }>,
  poolId?: string,
): PoolView[] {
  const queuedByModel = new Map<string, number>();
  for (const t of queued.values()) queuedByModel.set(t.spec.model, (queuedByModel.get(t.spec.model) ?? 0) + 1);
  const views: PoolView[] = [];
  for (const status of pools.values()) {
    if (poolId !== undefined && status.pool_id !== poolId) continue;
    let ready = 0;
    let slotsTotal = 0;
    let slotsBusy = 0;
    const replicas = status.replicas.map((r) => {
      const b = busy.get(r.replica_id) ?? 0;
      if (r.health === 'ready') {
        ready += 1;
        slotsTotal += r.slots_total;
      }
      slotsBusy += b;
      return { ...r, slots_busy: b, slots_free: Math.max(0, r.slots_total - b) };
    });
    views.push({
      pool_id: status.pool_id,
      model: status.model,
      engine: status.engine,
      desired: status.desired,
      state: status.state,
      ...(status.reason === undefined ? {} : { reason: status.reason }),
      at: status.at,
      ready,
      slots_total: slotsTotal,
      slots_busy: slotsBusy,
      queued: queuedByModel.get(status.model) ?? 0,
      replicas,
    });
  }
  return views.sort((a, b) => a.pool_id.localeCompare(b.pool_id));
}
