/**
 * FleetSupervisor: parent of every PoolActor. Pools are permanent children restarted with
 * backoff; a pool that exceeds its restart intensity is stopped and reported `degraded` so that a
 * crash loop stops costing money until an operator acts (DESIGN §3).
 */
import { z } from 'zod';
import { subjects, type FleetPoolConfig, type StaticPoolConfig } from '../protocols/index.js';
import type { Bus } from '../transport/index.js';
import type { Behavior, ChildOptions } from './types.js';
import { poolBehavior, type PoolDeps } from './pool.js';
import { fleetPoolBehavior, type FleetPoolDeps } from './fleet-pool.js';

/** Messages of the FleetSupervisor. */
export const FleetMsgSchema = z.discriminatedUnion('type', [z.object({ type: z.literal('fleet.pools') })]);
export type FleetMsg = z.infer<typeof FleetMsgSchema>;

/** Restart budget of one pool. */
export const POOL_CHILD_OPTIONS: ChildOptions = {
  kind: 'permanent',
  restart: { maxRestarts: 5, withinMs: 60_000 },
  backoff: { minBackoffMs: 200, maxBackoffMs: 30_000, randomFactor: 0.2 },
};

/** What the FleetSupervisor needs. */
export interface FleetDeps {
  bus: Bus;
  pools: StaticPoolConfig[];
  adapterFor: PoolDeps['adapterFor'];
  /** Fleet pools (rented or owned hosts) and what their PoolActors need. */
  fleetPools?: FleetPoolConfig[];
  fleetDeps?: (pool: FleetPoolConfig) => FleetPoolDeps;
  /** Destroys every instance of a pool that is stopped for good, so it stops costing money. */
  retire?: (poolId: string) => Promise<void>;
}

interface FleetState {
  degraded: Set<string>;
}

const childName = (poolId: string): string => `pool-${poolId}`;

/** The FleetSupervisor's behavior. */
export function fleetBehavior(deps: FleetDeps): Behavior<FleetState, FleetMsg> {
  return {
    schema: FleetMsgSchema,
    init(ctx) {
      for (const pool of deps.pools) {
        ctx.spawn(childName(pool.id), poolBehavior({ bus: deps.bus, pool, adapterFor: deps.adapterFor }), POOL_CHILD_OPTIONS);
      }
      for (const pool of deps.fleetPools ?? []) {
        if (deps.fleetDeps === undefined) throw new Error('fleet pools configured without fleet dependencies');
        ctx.spawn(childName(pool.id), fleetPoolBehavior(deps.fleetDeps(pool)), POOL_CHILD_OPTIONS);
      }
      return { degraded: new Set() };
    },
    receive(state, msg, ctx) {
      switch (msg.type) {
        case 'fleet.pools':
          ctx.reply({ running: ctx.children(), degraded: [...state.degraded] });
          return state;
      }
    },
    supervise(failure, ctx) {
      const limit = POOL_CHILD_OPTIONS.restart?.maxRestarts ?? 0;
      if (failure.restartsInWindow < limit) return 'restart';
      const pool = [...deps.pools, ...(deps.fleetPools ?? [])].find((p) => childName(p.id) === failure.child);
      ctx.log.error({ pool_id: pool?.id, err: failure.error }, 'pool exceeded its restart intensity; stopped and marked degraded');
      if (pool !== undefined && 'kind' in pool && pool.kind === 'fleet') {
        void deps.retire?.(pool.id).catch((err: unknown) => ctx.log.error({ err, pool_id: pool.id }, 'could not destroy the instances of a degraded pool'));
      }
      if (pool !== undefined) {
        deps.bus.publish(subjects.poolStatus(pool.id), {
          pool_id: pool.id,
          model: pool.model,
          engine: pool.engine,
          desired: Array.isArray(pool.replicas) ? pool.replicas.length : pool.replicas,
          state: 'degraded',
          reason: `pool actor crashed ${failure.restartsInWindow + 1} times: ${failure.error instanceof Error ? failure.error.message : String(failure.error)}`,
          replicas: [],
          at: ctx.clock.now(),
        });
      }
      return 'stop';
    },
    onChildExit(state, exit) {
      if (exit.reason.kind !== 'normal') state.degraded.add(exit.child.replace(/^pool-/, ''));
      return state;
    },
  };
}
