/**
 * `drover.ops.pools.*`: the desired state of pools in KV `drover_pools`. A change is written with
 * compare-and-set first and then announced on `drover.pools.<id>.control`, so the PoolActor acts at
 * once; KV stays the truth for a PoolActor that missed the message (e.g. restarting).
 */
import { DroverError } from '../protocols/index.js';
import { DEFAULT_OPERATOR, poolControlSubject, type PoolControl, type PoolSpecRecord, type PoolsListReply, type PoolUpdateReply } from '../protocols/index.js';
import { casWrite } from './cas.js';
import type { OpsContext } from './types.js';

/** `pools.list`: every pool spec, by pool id. */
export async function listPools(ctx: OpsContext): Promise<PoolsListReply> {
  const entries = await ctx.pools.entries();
  return { pools: entries.map((e) => e.value).sort((a, b) => a.pool_id.localeCompare(b.pool_id)) };
}

/** Applies `change` to an existing spec (NOT_FOUND otherwise), then publishes the control message. */
async function updatePool(
  ctx: OpsContext,
  poolId: string,
  change: (spec: PoolSpecRecord, at: number) => PoolSpecRecord,
  control: (spec: PoolSpecRecord, revision: number) => PoolControl,
): Promise<PoolUpdateReply> {
  const written = await casWrite(
    ctx.pools,
    poolId,
    (current) => {
      if (current === undefined) throw new DroverError('NOT_FOUND', `no pool ${poolId}`, { poolId });
      return change(current, ctx.clock.now());
    },
    ctx.casAttempts,
  );
  if (written.previous === undefined) throw new Error(`invariant: pool ${poolId} was updated without a previous spec`);
  ctx.transport.bus.publish(poolControlSubject(poolId), control(written.value, written.revision));
  return { pool: written.value, previous: written.previous, revision: written.revision };
}

/** `pools.scale`: sets the desired replicas (and ends a drain), then tells the PoolActor. */
export async function scalePool(ctx: OpsContext, req: { pool_id: string; replicas: number; operator?: string | undefined }): Promise<PoolUpdateReply> {
  const by = req.operator ?? DEFAULT_OPERATOR;
  const reply = await updatePool(
    ctx,
    req.pool_id,
    (spec, at) => ({ ...spec, desired_replicas: req.replicas, draining: false, updated_at: at, updated_by: by }),
    (spec, revision) => ({ type: 'pool.scale', pool_id: spec.pool_id, replicas: spec.desired_replicas, revision, by, at: spec.updated_at }),
  );
  ctx.log.info({ pool_id: req.pool_id, from: reply.previous.desired_replicas, to: req.replicas, by }, `pool ${req.pool_id} scaled to ${req.replicas} by ${by}`);
  return reply;
}

/** `pools.drain`: marks the pool draining, then tells the PoolActor. */
export async function drainPool(ctx: OpsContext, req: { pool_id: string; operator?: string | undefined }): Promise<PoolUpdateReply> {
  const by = req.operator ?? DEFAULT_OPERATOR;
  const reply = await updatePool(
    ctx,
    req.pool_id,
    (spec, at) => ({ ...spec, draining: true, updated_at: at, updated_by: by }),
    (spec, revision) => ({ type: 'pool.drain', pool_id: spec.pool_id, revision, by, at: spec.updated_at }),
  );
  ctx.log.info({ pool_id: req.pool_id, by }, `pool ${req.pool_id} draining (by ${by})`);
  return reply;
}
