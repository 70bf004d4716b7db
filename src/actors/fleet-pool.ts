/**
 * PoolActor for a fleet pool: keeps `replicas` ready hosts of one model. It picks offers
 * (`filterAndRankOffers`: strictness thresholds, blacklists, reputation, price), spawns a HostActor
 * per rented instance, and reacts to each host failure exactly as DESIGN §3 says
 * (`reactToHostFailure`): infra-fatal hosts are blacklisted and replaced elsewhere, incompatible
 * ones blacklisted for this workload only, workload-fatal failures count against the pool's budget
 * and past it the pool is `failed` — no blacklist, no further spending.
 *
 * On start it reconciles with the provider: instances labelled with this pool that have a record
 * are adopted, labelled instances without one are destroyed, so no paid instance is leaked.
 * Ready hosts are published as replicas on `drover.pools.<id>.status`, like static pools.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  subjects,
  workloadKey,
  type BlacklistEntry,
  type FleetPoolConfig,
  type HostFailure,
  type HostRecord,
  type PoolStatus,
  type ReplicaStatus,
  type Reputation,
  type Strictness,
} from '../protocols/index.js';
import { excludedHosts, filterAndRankOffers, loadChanged, publishesAtOnce, reactToHostFailure, recordOutcome, shouldRepublish } from '../policy/index.js';
import type { Provider } from '../providers/index.js';
import type { Bus, KvStore, Subscription } from '../transport/index.js';
import type { DroverMetrics } from '../observability/metrics.js';
import type { ActorContext, Behavior } from './types.js';
import { HostReportSchema, hostBehavior, type HostDeps, type HostMsg, type HostReport } from './host.js';

/** Messages of a fleet PoolActor. */
export const FleetPoolMsgSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pool.reconcile') }),
  z.object({ type: z.literal('pool.host'), report: HostReportSchema }),
  z.object({ type: z.literal('pool.scale'), replicas: z.number().int().nonnegative() }),
  z.object({ type: z.literal('pool.drain') }),
  z.object({ type: z.literal('pool.publish') }),
]);
export type FleetPoolMsg = z.infer<typeof FleetPoolMsgSchema>;

/** Stores a fleet pool reads and writes. */
export interface FleetStores {
  hosts: KvStore<HostRecord>;
  blacklist: KvStore<BlacklistEntry>;
  reputation: KvStore<Reputation>;
}

/** What a fleet PoolActor needs. */
export interface FleetPoolDeps {
  pool: FleetPoolConfig;
  provider: Provider;
  bus: Bus;
  stores: FleetStores;
  nodeId: string;
  strictness: () => Promise<Strictness>;
  /** The pool's desired state in KV (operators scale and drain it), read on start. */
  spec?: () => Promise<{ desired_replicas: number; draining: boolean } | undefined>;
  host: Omit<HostDeps, 'report' | 'pool' | 'labelPrefix' | 'provider' | 'bus' | 'hosts' | 'nodeId'>;
  metrics?: DroverMetrics;
  /** How often status is republished and the pool reconciled while short of replicas. */
  reconcileMs: number;
}

interface PoolHost {
  host_id: string;
  provider_host_id: string;
  offer_id: string | undefined;
  state: 'starting' | 'ready' | 'terminating';
  replica?: ReplicaStatus;
  price_per_hour: number;
  started_at: number;
}

interface FleetPoolState {
  desired: number;
  draining: boolean;
  failed: { reason: string; evidence: string } | undefined;
  hosts: Map<string, PoolHost>;
  budget: number[];
  /** Offers that just failed to rent: not retried for a while. */
  recentOffers: Map<string, number>;
  /**
   * Hosts that just failed this pool for any class: not rented again for a while. Not a blacklist
   * (it is in memory and expires), but it stops an UNKNOWN host — hung, unreachable — from being
   * rented again and again.
   */
  recentFailures: Map<string, number>;
  lastReason: string | undefined;
  spentClosed: number;
  timer: unknown;
  publishTimer: unknown;
  /** A replica joined, or a replica's load changed, since the last status publish. */
  changed: boolean;
  lastPublishedAt: number;
  control: Subscription | undefined;
  reconciling: boolean;
  /** Start-up reconciliation with the provider succeeded; nothing is rented before it has. */
  providerReconciled: boolean;
  unknownFailures: number[];
  lastSweepAt: number;
}

const OFFER_COOLDOWN_MS = 60_000;
const FAILED_HOST_COOLDOWN_MS = 600_000;
/**
 * Failures without a verdict (UNKNOWN: hung, unreachable, unexplained death) allowed per hour before
 * the pool stops renting. UNKNOWN never blacklists a host, so without this cap a pool whose hosts
 * all hang would rent forever.
 */
const UNKNOWN_BUDGET = { max: 6, withinMs: 3_600_000 } as const;
/** How often labelled instances without a live host are looked for (destroys that failed, strays). */
const SWEEP_MS = 60_000;
/** An unchanged pool status is republished this often (placement restarts pick it up). */
const STATUS_REFRESH_MS = 10_000;

/** KV keys allow `[-/_=.a-zA-Z0-9]`: everything else becomes `_`. */
function kvSafe(s: string): string {
  return s.replace(/[^-/_=.a-zA-Z0-9]/g, '_');
}

/** Blacklist KV key of an entry. */
export function blacklistKey(e: Pick<BlacklistEntry, 'scope' | 'provider_host_id' | 'workload'>): string {
  return kvSafe(e.workload === undefined ? `${e.scope}.${e.provider_host_id}` : `${e.scope}.${e.provider_host_id}.${e.workload}`);
}

/** The fleet PoolActor's behavior. */
export function fleetPoolBehavior(deps: FleetPoolDeps): Behavior<FleetPoolState, FleetPoolMsg> {
  const { pool, provider, stores } = deps;
  const labelPrefix = `drover/${deps.nodeId}/${pool.id}/`;
  const workload = workloadKey(pool.engine, pool.model);

  function hostChild(hostId: string): string {
    return `host-${hostId}`;
  }

  function hostDeps(ctx: ActorContext<FleetPoolMsg>): HostDeps {
    return {
      ...deps.host,
      provider,
      bus: deps.bus,
      hosts: stores.hosts,
      nodeId: deps.nodeId,
      pool,
      labelPrefix,
      report: (report: HostReport) => ctx.self.tell({ type: 'pool.host', report }),
    };
  }

  function status(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>): PoolStatus {
    const replicas = [...s.hosts.values()].flatMap((h) => (h.state === 'ready' && h.replica !== undefined ? [h.replica] : []));
    const ready = replicas.length;
    const state: PoolStatus['state'] =
      s.failed !== undefined ? 'failed' : s.draining ? 'draining' : ready >= s.desired ? 'ready' : ready > 0 ? 'degraded' : 'starting';
    const reason = s.failed?.reason ?? (state === 'ready' ? undefined : s.lastReason);
    return {
      pool_id: pool.id,
      model: pool.model,
      engine: pool.engine,
      desired: s.desired,
      state,
      ...(reason === undefined ? {} : { reason }),
      replicas,
      at: ctx.clock.now(),
    };
  }

  /** Replicas in the status: ready hosts with a replica. */
  function readyCount(s: FleetPoolState): number {
    let n = 0;
    for (const h of s.hosts.values()) if (h.state === 'ready' && h.replica !== undefined) n += 1;
    return n;
  }

  function publish(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>): void {
    s.changed = false;
    s.lastPublishedAt = ctx.clock.now();
    deps.bus.publish(subjects.poolStatus(pool.id), status(s, ctx));
    const m = deps.metrics;
    if (m !== undefined) {
      const now = ctx.clock.now();
      let live = 0;
      const byState = new Map<string, number>([['starting', 0], ['ready', 0], ['terminating', 0]]);
      for (const h of s.hosts.values()) {
        live += (h.price_per_hour * (now - h.started_at)) / 3_600_000;
        byState.set(h.state, (byState.get(h.state) ?? 0) + 1);
      }
      m.spendDollars.set({ pool_id: pool.id }, s.spentClosed + live);
      for (const [state, n] of byState) m.hostsByState.set({ pool_id: pool.id, state }, n);
    }
  }

  function scheduleReconcile(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>, ms: number): void {
    ctx.clock.clearTimeout(s.timer);
    s.timer = ctx.clock.setTimeout(() => ctx.self.tell({ type: 'pool.reconcile' }), ms);
  }

  function closeSpend(s: FleetPoolState, h: PoolHost, now: number): void {
    s.spentClosed += (h.price_per_hour * (now - h.started_at)) / 3_600_000;
  }

  async function rentMore(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>, deficit: number): Promise<void> {
    const now = ctx.clock.now();
    for (const [offer, at] of s.recentOffers) if (now - at > OFFER_COOLDOWN_MS) s.recentOffers.delete(offer);
    for (const [host, at] of s.recentFailures) if (now - at > FAILED_HOST_COOLDOWN_MS) s.recentFailures.delete(host);
    const [offers, blacklist, reputation, strictness] = await Promise.all([
      provider.searchOffers({
        ...(pool.offer.gpu_names === undefined ? {} : { gpu_names: pool.offer.gpu_names }),
        min_gpu_ram_mb: pool.offer.min_gpu_ram_mb,
        num_gpus: pool.offer.num_gpus,
        ...(pool.offer.max_dph === undefined ? {} : { max_dph: pool.offer.max_dph }),
        limit: 64,
      }),
      stores.blacklist.entries(),
      stores.reputation.entries(),
      deps.strictness(),
    ]);
    const excluded = excludedHosts(blacklist.map((e) => e.value), workload);
    for (const h of s.hosts.values()) excluded.add(h.provider_host_id);
    for (const host of s.recentFailures.keys()) excluded.add(host);
    const { ranked, rejected } = filterAndRankOffers(offers, {
      strictness,
      excluded,
      reputation: new Map(reputation.map((e) => [e.key, e.value])),
      requirements: {
        ...(pool.offer.gpu_names === undefined ? {} : { gpu_names: pool.offer.gpu_names }),
        min_gpu_ram_mb: pool.offer.min_gpu_ram_mb,
        num_gpus: pool.offer.num_gpus,
        ...(pool.offer.max_dph === undefined ? {} : { max_dph: pool.offer.max_dph }),
      },
      now,
    });
    const usable = ranked.filter((o) => !s.recentOffers.has(o.offer_id));
    const picked: typeof usable = [];
    const hostsPicked = new Set<string>();
    for (const o of usable) {
      if (picked.length >= deficit) break;
      if (hostsPicked.has(o.provider_host_id)) continue;
      hostsPicked.add(o.provider_host_id);
      picked.push(o);
    }
    if (picked.length === 0) {
      s.lastReason = `no offer fits (strictness ${strictness}; ${offers.length} offers, ${rejected.length} rejected, ${excluded.size} hosts excluded)`;
      ctx.log.warn({ pool_id: pool.id, offers: offers.length, rejected: rejected.slice(0, 8) }, s.lastReason);
      return;
    }
    for (const offer of picked) {
      const hostId = `h${randomUUID().slice(0, 8)}`;
      s.recentOffers.set(offer.offer_id, now);
      s.hosts.set(hostId, {
        host_id: hostId,
        provider_host_id: offer.provider_host_id,
        offer_id: offer.offer_id,
        state: 'starting',
        price_per_hour: offer.dph_total,
        started_at: now,
      });
      ctx.spawn(hostChild(hostId), hostBehavior(hostDeps(ctx), { kind: 'rent', host_id: hostId, offer }), { kind: 'temporary' });
    }
  }

  async function reconcile(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>): Promise<void> {
    if (s.reconciling) return;
    s.reconciling = true;
    try {
      if (!s.providerReconciled) {
        try {
          await reconcileWithProvider(s, ctx);
          s.providerReconciled = true;
          s.lastSweepAt = ctx.clock.now();
        } catch (err) {
          // Renting now could pay twice for hosts we already have: wait until the provider answers.
          s.lastReason = `cannot list our instances at the provider yet: ${(err as Error).message}`;
          ctx.log.warn({ err, pool_id: pool.id }, s.lastReason);
          return;
        }
      } else if (ctx.clock.now() - s.lastSweepAt > SWEEP_MS) {
        s.lastSweepAt = ctx.clock.now();
        await sweep(s, ctx).catch((err: unknown) => ctx.log.warn({ err, pool_id: pool.id }, 'sweep of labelled instances failed'));
      }
      if (s.failed !== undefined) return;
      const active = [...s.hosts.values()].filter((h) => h.state !== 'terminating');
      const target = s.draining ? 0 : s.desired;
      if (active.length > target) {
        const extras = active.sort((a, b) => Number(a.state === 'ready') - Number(b.state === 'ready')).slice(0, active.length - target);
        for (const h of extras) {
          h.state = 'terminating';
          ctx.child<HostMsg>(hostChild(h.host_id))?.tell({ type: 'host.terminate', reason: s.draining ? 'pool draining' : 'pool scaled down' });
        }
      } else if (active.length < target) {
        await rentMore(s, ctx, target - active.length).catch((err: unknown) => {
          s.lastReason = `offer search failed: ${(err as Error).message}`;
          ctx.log.warn({ err, pool_id: pool.id }, s.lastReason);
        });
      }
    } finally {
      s.reconciling = false;
      publish(s, ctx);
      // Keep reconciling while short of hosts (or not yet reconciled), and sweep now and then anyway.
      const short = [...s.hosts.values()].filter((h) => h.state !== 'terminating').length < (s.draining ? 0 : s.desired);
      scheduleReconcile(s, ctx, (short || !s.providerReconciled) && s.failed === undefined ? deps.reconcileMs : SWEEP_MS);
    }
  }

  async function onFailure(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>, hostId: string, providerHostId: string, failure: HostFailure, destroyed: boolean): Promise<void> {
    const now = ctx.clock.now();
    const h = s.hosts.get(hostId);
    if (h === undefined) {
      // A report from a host this incarnation does not own (stopped before a restart): not ours to judge.
      ctx.log.debug({ host_id: hostId }, 'ignoring a failure report of an unknown host');
      return;
    }
    closeSpend(s, h, now);
    s.hosts.delete(hostId);
    s.recentFailures.set(providerHostId, now);
    deps.metrics?.provisioningOutcomes.inc({ pool_id: pool.id, outcome: failure.class });
    const reaction = reactToHostFailure({
      failure,
      workload,
      providerHostId,
      poolBudget: { failures: s.budget, max: pool.failure_budget.max_failures, withinMs: pool.failure_budget.within_ms },
      now,
    });
    s.budget = reaction.budget;
    if (reaction.blacklist !== undefined) {
      const entry: BlacklistEntry = {
        provider_host_id: providerHostId,
        scope: reaction.blacklist.scope,
        ...(reaction.blacklist.scope === 'workload' ? { workload } : {}),
        reason: reaction.blacklist.reason,
        by: `pool:${pool.id}`,
        at: now,
        evidence: failure.evidence.slice(0, 2_000),
      };
      await stores.blacklist.put(blacklistKey(entry), entry).catch((err: unknown) => ctx.log.error({ err }, 'could not write the blacklist'));
      ctx.log.warn({ pool_id: pool.id, provider_host_id: providerHostId, scope: entry.scope, class: failure.class }, `host ${providerHostId} blacklisted (${entry.scope}): ${failure.reason}`);
    }
    if (reaction.reputation !== undefined) {
      const key = kvSafe(providerHostId);
      const prev = await stores.reputation.get(key).catch(() => undefined);
      await stores.reputation.put(key, recordOutcome(prev?.value, reaction.reputation, providerHostId, now)).catch(() => undefined);
    }
    if (!destroyed) {
      const record = await stores.hosts.get(hostId).catch(() => undefined);
      const instance = record?.value.instance_id;
      if (instance !== undefined) await provider.destroy(instance).catch((err: unknown) => ctx.log.error({ err, instance }, 'destroy failed; reconciliation will retry'));
    }
    let poolFailed = reaction.poolFailed;
    if (failure.class === 'UNKNOWN') {
      s.unknownFailures = [...s.unknownFailures.filter((t) => now - t < UNKNOWN_BUDGET.withinMs), now];
      if (s.unknownFailures.length > UNKNOWN_BUDGET.max && poolFailed === undefined) {
        poolFailed = { reason: `${s.unknownFailures.length} host failures without a verdict within ${UNKNOWN_BUDGET.withinMs / 1000} s; stopped renting (last: ${failure.reason})` };
      }
    }
    if (poolFailed !== undefined) {
      s.failed = { reason: poolFailed.reason, evidence: failure.evidence };
      ctx.log.error({ pool_id: pool.id, class: failure.class, evidence: failure.evidence.slice(0, 2_000) }, `pool ${pool.id} failed: ${poolFailed.reason}`);
      for (const other of s.hosts.values()) {
        other.state = 'terminating';
        ctx.child<HostMsg>(hostChild(other.host_id))?.tell({ type: 'host.terminate', reason: 'pool failed' });
      }
    } else {
      s.lastReason = `replacing host ${providerHostId}: ${failure.class} ${failure.reason}`;
    }
    if (reaction.respawn && poolFailed === undefined) await reconcile(s, ctx);
    else publish(s, ctx);
  }

  /** Destroys labelled instances of this pool that no live host owns (a destroy that failed, a stray). */
  async function sweep(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>): Promise<void> {
    const instances = await provider.listByLabel(labelPrefix);
    const records = new Map((await stores.hosts.entries()).map((r) => [r.value.instance_id, r.value]));
    for (const inst of instances) {
      const owner = records.get(inst.instance_id);
      if (owner !== undefined && s.hosts.has(owner.host_id)) continue;
      // A host being created has no instance id in its record yet: leave instances of live hosts alone.
      const labelled = inst.label?.slice(labelPrefix.length);
      if (labelled !== undefined && s.hosts.has(labelled)) continue;
      ctx.log.warn({ pool_id: pool.id, instance_id: inst.instance_id, label: inst.label }, 'destroying a labelled instance no live host owns');
      await provider.destroy(inst.instance_id).catch((err: unknown) => ctx.log.error({ err, instance_id: inst.instance_id }, 'destroy failed; the next sweep retries'));
    }
  }

  /** Adopts instances we have records for, destroys labelled ones we do not know. */
  async function reconcileWithProvider(s: FleetPoolState, ctx: ActorContext<FleetPoolMsg>): Promise<void> {
    const [instances, records] = await Promise.all([provider.listByLabel(labelPrefix), stores.hosts.entries()]);
    const ours = records.filter((r) => r.value.owner === deps.nodeId && r.value.pool_id === pool.id);
    const byInstance = new Map(ours.flatMap((r) => (r.value.instance_id === undefined ? [] : [[r.value.instance_id, r.value] as const])));
    const seen = new Set<string>();
    for (const inst of instances) {
      seen.add(inst.instance_id);
      const record = byInstance.get(inst.instance_id);
      if (record !== undefined && record.state !== 'failed' && record.state !== 'terminated') {
        ctx.log.info({ pool_id: pool.id, host_id: record.host_id, instance_id: inst.instance_id }, 'adopting an instance from before the restart');
        s.hosts.set(record.host_id, {
          host_id: record.host_id,
          provider_host_id: record.provider_host_id,
          offer_id: record.offer_id,
          state: 'starting',
          price_per_hour: record.price_per_hour ?? 0,
          started_at: record.created_at,
        });
        ctx.spawn(hostChild(record.host_id), hostBehavior(hostDeps(ctx), { kind: 'adopt', record }), { kind: 'temporary' });
      } else {
        ctx.log.warn({ pool_id: pool.id, instance_id: inst.instance_id, label: inst.label }, 'destroying a labelled instance with no live record (leak prevention)');
        await provider.destroy(inst.instance_id).catch((err: unknown) => ctx.log.error({ err, instance_id: inst.instance_id }, 'destroy failed'));
      }
    }
    for (const r of ours) {
      const st = r.value.state;
      if (st === 'failed' || st === 'terminated') continue;
      if (r.value.instance_id !== undefined && seen.has(r.value.instance_id)) continue;
      await stores.hosts.put(r.key, { ...r.value, state: 'terminated', ended_at: ctx.clock.now(), updated_at: ctx.clock.now() }).catch(() => undefined);
    }
  }

  return {
    schema: FleetPoolMsgSchema,
    async init(ctx) {
      const s: FleetPoolState = {
        desired: pool.replicas,
        draining: false,
        failed: undefined,
        hosts: new Map(),
        budget: [],
        recentOffers: new Map(),
        recentFailures: new Map(),
        lastReason: undefined,
        spentClosed: 0,
        timer: undefined,
        publishTimer: undefined,
        changed: false,
        lastPublishedAt: 0,
        control: undefined,
        reconciling: false,
        providerReconciled: false,
        unknownFailures: [],
        lastSweepAt: 0,
      };
      const spec = await deps.spec?.().catch(() => undefined);
      if (spec !== undefined) {
        s.desired = spec.desired_replicas;
        s.draining = spec.draining;
      }
      // Known at once (status `starting`); the provider is consulted by the first reconcile.
      publish(s, ctx);
      s.control = deps.bus.subscribe(
        subjects.poolControl(pool.id),
        { schema: z.discriminatedUnion('type', [z.object({ type: z.literal('pool.scale'), replicas: z.number().int().nonnegative() }), z.object({ type: z.literal('pool.drain') })]) },
        (msg) => ctx.self.tell(msg),
      );
      const heartbeat = (): void => {
        s.publishTimer = ctx.clock.setTimeout(() => {
          ctx.self.tell({ type: 'pool.publish' });
          heartbeat();
        }, deps.reconcileMs);
      };
      heartbeat();
      ctx.self.tell({ type: 'pool.reconcile' });
      return s;
    },
    async receive(s, msg, ctx) {
      switch (msg.type) {
        case 'pool.reconcile':
          await reconcile(s, ctx);
          return s;
        case 'pool.publish':
          // Most changes of state publish at once; this heartbeat carries replicas that joined a
          // serving pool and load changes, and otherwise refreshes a late subscriber (a restarted
          // placement) without resending an unchanged list of a thousand replicas every tick.
          if (shouldRepublish({ changed: s.changed, sinceLastPublishMs: ctx.clock.now() - s.lastPublishedAt, refreshMs: STATUS_REFRESH_MS })) publish(s, ctx);
          return s;
        case 'pool.scale':
          s.desired = msg.replicas;
          s.draining = false;
          // An operator scaling a failed pool takes responsibility: it rents again with fresh budgets.
          if (s.failed !== undefined) ctx.log.warn({ pool_id: pool.id, was: s.failed.reason }, 'failed pool revived by an operator');
          s.failed = undefined;
          s.budget = [];
          s.unknownFailures = [];
          ctx.log.info({ pool_id: pool.id, replicas: msg.replicas }, 'pool scaled');
          await reconcile(s, ctx);
          return s;
        case 'pool.drain':
          s.draining = true;
          ctx.log.info({ pool_id: pool.id }, 'pool draining');
          await reconcile(s, ctx);
          return s;
        case 'pool.host': {
          const r = msg.report;
          const h = s.hosts.get(r.host_id);
          switch (r.type) {
            case 'host.ready': {
              // A host the pool is already terminating (scale down, drain, failure) must not be served.
              if (h === undefined || h.state === 'terminating') return s;
              const readyBefore = readyCount(s);
              h.state = 'ready';
              h.replica = r.replica;
              deps.metrics?.provisioningOutcomes.inc({ pool_id: pool.id, outcome: 'ready' });
              const key = kvSafe(r.provider_host_id);
              const prev = await stores.reputation.get(key).catch(() => undefined);
              await stores.reputation.put(key, recordOutcome(prev?.value, 'success', r.provider_host_id, ctx.clock.now())).catch(() => undefined);
              if (publishesAtOnce({ readyBefore, readyAfter: readyCount(s) })) publish(s, ctx);
              else s.changed = true;
              return s;
            }
            case 'host.load':
              if (h?.replica !== undefined) {
                if (loadChanged(h.replica.load, r.load)) s.changed = true;
                h.replica = { ...h.replica, load: r.load, last_checked_at: ctx.clock.now() };
              }
              return s;
            case 'host.failed':
              await onFailure(s, ctx, r.host_id, r.provider_host_id, r.failure, r.destroyed);
              return s;
            case 'host.terminated':
              if (h !== undefined) closeSpend(s, h, ctx.clock.now());
              s.hosts.delete(r.host_id);
              publish(s, ctx);
              return s;
          }
        }
      }
    },
    supervise: () => 'stop',
    async onChildExit(s, exit, ctx) {
      const hostId = exit.child.replace(/^host-/, '');
      const h = s.hosts.get(hostId);
      if (h === undefined || exit.reason.kind === 'normal') return s;
      // A HostActor defect: its instance may still be running. Treat as UNKNOWN (no blacklist).
      const error = 'error' in exit.reason ? exit.reason.error : undefined;
      await onFailure(s, ctx, hostId, h.provider_host_id, {
        class: 'UNKNOWN',
        reason: `host actor crashed: ${error instanceof Error ? error.message : String(error)}`,
        evidence: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }, false);
      return s;
    },
    async onStop(s, _reason, ctx) {
      if (s === undefined) return;
      ctx.clock.clearTimeout(s.timer);
      ctx.clock.clearTimeout(s.publishTimer);
      void s.control?.unsubscribe();
    },
  };
}
