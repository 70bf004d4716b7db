/**
 * PoolActor (static replicas): keeps the desired replicas of one model — here engines you already
 * run, given by URL — and checks each one: `/health` and `/v1/models` decide readiness, `/metrics`
 * gives the load. It publishes the pool's status on `drover.pools.<id>.status` after every round
 * (also a heartbeat, so a placement that starts later learns the pool). The fleet issue replaces
 * the static replica list with HostActors; the published status stays the same.
 */
import { z } from 'zod';
import { subjects, type PoolStatus, type ReplicaStatus, type StaticPoolConfig } from '../protocols/index.js';
import type { EngineAdapter } from '../engines/index.js';
import type { Bus } from '../transport/index.js';
import type { ActorContext, Behavior } from './types.js';

/** Messages of a PoolActor. */
export const PoolMsgSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pool.tick') }),
  z.object({
    type: z.literal('pool.checked'),
    results: z.array(
      z.object({
        replica_id: z.string(),
        ready: z.boolean(),
        error: z.string().optional(),
        ctx_max: z.number().optional(),
        load: z.object({ running: z.number(), waiting: z.number(), kv_usage: z.number() }).optional(),
        at: z.number(),
      }),
    ),
  }),
  z.object({ type: z.literal('pool.status') }),
]);
export type PoolMsg = z.infer<typeof PoolMsgSchema>;
type CheckResult = Extract<PoolMsg, { type: 'pool.checked' }>['results'][number];

/** What a PoolActor needs. */
export interface PoolDeps {
  bus: Bus;
  pool: StaticPoolConfig;
  adapterFor: (engine: StaticPoolConfig['engine'], url: string) => EngineAdapter;
}

interface PoolState {
  replicas: Map<string, ReplicaStatus>;
  failures: Map<string, number>;
  everReady: boolean;
  timer: unknown;
}

/** Stable replica ids: the configured id, or `<pool>-<index>`. */
export function replicaIdsOf(pool: StaticPoolConfig): string[] {
  return pool.replicas.map((r, i) => r.id ?? `${pool.id}-${i}`);
}

/** The PoolActor's behavior. */
export function poolBehavior(deps: PoolDeps): Behavior<PoolState, PoolMsg> {
  const { pool, bus } = deps;
  const ids = replicaIdsOf(pool);

  function status(state: PoolState, ctx: ActorContext<PoolMsg>): PoolStatus {
    const replicas = [...state.replicas.values()];
    const ready = replicas.filter((r) => r.health === 'ready').length;
    const desired = replicas.length;
    const poolState: PoolStatus['state'] = ready === desired && desired > 0 ? 'ready' : ready > 0 || state.everReady ? 'degraded' : 'starting';
    const firstError = replicas.find((r) => r.last_error !== undefined)?.last_error;
    return {
      pool_id: pool.id,
      model: pool.model,
      engine: pool.engine,
      desired,
      state: poolState,
      ...(poolState === 'ready' || firstError === undefined ? {} : { reason: firstError }),
      replicas,
      at: ctx.clock.now(),
    };
  }

  async function check(replica: ReplicaStatus, now: () => number): Promise<CheckResult> {
    const adapter = deps.adapterFor(replica.engine, replica.url);
    const signal = AbortSignal.timeout(Math.max(1_000, pool.health_interval_ms));
    const health = await adapter.health(signal);
    const base = { replica_id: replica.replica_id, at: now() };
    if (!health.ready) return { ...base, ready: false, error: health.error ?? 'engine not ready' };
    if (!health.models.includes(pool.model)) {
      return { ...base, ready: false, error: `engine serves ${JSON.stringify(health.models)}, not ${pool.model}` };
    }
    const load = await adapter.load(signal).catch(() => undefined);
    return {
      ...base,
      ready: true,
      ...(health.max_model_len === undefined ? {} : { ctx_max: health.max_model_len }),
      ...(load === undefined ? {} : { load }),
    };
  }

  function apply(state: PoolState, result: CheckResult): void {
    const current = state.replicas.get(result.replica_id);
    if (current === undefined) return;
    const next: ReplicaStatus = { ...current, last_checked_at: result.at };
    if (result.ready) {
      state.failures.set(result.replica_id, 0);
      next.health = 'ready';
      delete next.last_error;
      const ctxMax = pool.ctx_max ?? result.ctx_max;
      if (ctxMax !== undefined) next.ctx_max = ctxMax;
      if (result.load !== undefined) next.load = result.load;
      state.everReady = true;
    } else {
      const failures = (state.failures.get(result.replica_id) ?? 0) + 1;
      state.failures.set(result.replica_id, failures);
      if (result.error !== undefined) next.last_error = result.error;
      // One missed check is noise; `unready_after_failures` in a row takes the replica out.
      if (current.health !== 'ready' || failures >= pool.unready_after_failures) next.health = 'unready';
    }
    state.replicas.set(result.replica_id, next);
  }

  function publish(state: PoolState, ctx: ActorContext<PoolMsg>): void {
    bus.publish(subjects.poolStatus(pool.id), status(state, ctx));
  }

  return {
    schema: PoolMsgSchema,
    init(ctx) {
      const replicas = new Map<string, ReplicaStatus>();
      pool.replicas.forEach((r, i) => {
        const id = ids[i] ?? `${pool.id}-${i}`;
        replicas.set(id, {
          replica_id: id,
          pool_id: pool.id,
          url: r.url,
          engine: pool.engine,
          model: pool.model,
          health: 'unknown',
          slots_total: pool.slots_per_replica,
          ...(pool.ctx_max === undefined ? {} : { ctx_max: pool.ctx_max }),
        });
      });
      const state: PoolState = { replicas, failures: new Map(), everReady: false, timer: undefined };
      publish(state, ctx);
      ctx.self.tell({ type: 'pool.tick' });
      return state;
    },
    receive(state, msg, ctx) {
      switch (msg.type) {
        case 'pool.tick': {
          const now = (): number => ctx.clock.now();
          // Checks run outside the mailbox; their results come back as one message.
          void Promise.all([...state.replicas.values()].map((r) => check(r, now))).then(
            (results) => ctx.self.tell({ type: 'pool.checked', results }),
            (err: unknown) => {
              ctx.log.error({ err }, 'replica checks failed');
              ctx.self.tell({ type: 'pool.checked', results: [] });
            },
          );
          return state;
        }
        case 'pool.checked': {
          for (const r of msg.results) apply(state, r);
          publish(state, ctx);
          state.timer = ctx.clock.setTimeout(() => ctx.self.tell({ type: 'pool.tick' }), pool.health_interval_ms);
          return state;
        }
        case 'pool.status':
          ctx.reply(status(state, ctx));
          return state;
      }
    },
    onStop(state, _reason, ctx) {
      if (state !== undefined) ctx.clock.clearTimeout(state.timer);
    },
  };
}
