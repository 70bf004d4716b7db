/**
 * HostActor: one GPU instance from rent to destroy. Its lifecycle is the FSM of DESIGN §5:
 * requested → provisioning → booting → warming → ready → draining → terminated, or failed(class)
 * from anywhere. Readiness is staged (instance running → SSH → executor sanity → GPU → engine
 * process → port bound → model listed → one generation), each stage with its own deadline; the
 * decisions (advance, wait, fail with which class) are the pure policies `decideReadiness`,
 * `assessProgress` and `classifyFailure`. Every transition is written to KV `drover_hosts` and
 * published on `drover.hosts.<id>.state` with its evidence.
 *
 * A host is a temporary child: it is never restarted in place. On failure it destroys its
 * instance (no paid instance outlives its actor) and reports the failure to its pool, which
 * decides about blacklists, reputation and a replacement.
 */
import { z } from 'zod';
import {
  HostFailureSchema,
  OfferSchema,
  ReplicaStatusSchema,
  EngineLoadSchema,
  HostRecordSchema,
  subjects,
  type FleetPoolConfig,
  type HostFailure,
  type HostRecord,
  type HostState,
  type HostTransition,
  type InstanceInfo,
  type ReadinessStage,
  type ReplicaStatus,
  type SshAddress,
} from '../protocols/index.js';
import {
  afterReadyCheck,
  assessProgress,
  decideReadiness,
  classifyFailure,
  READY_WATCH_START,
  type ProgressState,
  type ReadyCheckOutcome,
  type ReadyWatch,
} from '../policy/index.js';
import type { EngineAdapter } from '../engines/index.js';
import type { ProbeExecutor, ReadinessAdapter } from '../probes/index.js';
import type { Provider } from '../providers/index.js';
import type { Bus, KvStore } from '../transport/index.js';
import type { ActorContext, ActorRef, Behavior } from './types.js';

/** Messages of a HostActor. */
export const HostMsgSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('host.tick') }),
  z.object({ type: z.literal('host.terminate'), reason: z.string() }),
]);
export type HostMsg = z.infer<typeof HostMsgSchema>;

/** What a HostActor tells its pool. */
export const HostReportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('host.ready'), host_id: z.string(), replica: ReplicaStatusSchema, provider_host_id: z.string() }),
  z.object({ type: z.literal('host.load'), host_id: z.string(), load: EngineLoadSchema }),
  z.object({
    type: z.literal('host.failed'),
    host_id: z.string(),
    provider_host_id: z.string(),
    failure: HostFailureSchema,
    /** The instance was destroyed by the host before it reported. */
    destroyed: z.boolean(),
  }),
  z.object({ type: z.literal('host.terminated'), host_id: z.string() }),
]);
export type HostReport = z.infer<typeof HostReportSchema>;

/** How a HostActor starts: rent this offer, or adopt an instance Drover already has a record of. */
export const HostStartSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('rent'), host_id: z.string(), offer: OfferSchema }),
  z.object({ kind: z.literal('adopt'), record: HostRecordSchema }),
]);
export type HostStart = z.infer<typeof HostStartSchema>;

/** What a HostActor needs. */
export interface HostDeps {
  provider: Provider;
  bus: Bus;
  hosts: KvStore<HostRecord>;
  executorFor: (ssh: SshAddress) => ProbeExecutor;
  readiness: ReadinessAdapter;
  engineFor: (url: string) => EngineAdapter;
  /** Lets go of the adapter of `url` (its kept check connection) once this host is gone. */
  releaseEngine?: (url: string) => void;
  pool: FleetPoolConfig;
  nodeId: string;
  deadlines: Record<ReadinessStage, number>;
  probeIntervalMs: number;
  /**
   * Check interval of a ready host whose engine reported no running or waiting request (default
   * 5 × `probeIntervalMs`). A busy host is checked every `probeIntervalMs`; a task placed on an idle
   * host is tracked by placement's own slot count meanwhile, and a failing check drops back to the
   * short interval at once.
   */
  idleCheckIntervalMs?: number;
  /** Instance label prefix of this pool; the host id is appended. */
  labelPrefix: string;
  report: (r: HostReport) => void;
  /** Observes time spent per stage (metrics). */
  onStageDone?: (stage: ReadinessStage, ms: number) => void;
}

interface HostActorState {
  record: HostRecord;
  revision: number | undefined;
  stageStartedAt: number;
  progress: ProgressState | undefined;
  lastProgressAt: number;
  exec: ProbeExecutor | undefined;
  instance: InstanceInfo | undefined;
  timer: unknown;
  /** The watch of a ready host: whether its next check reads the model list, failures in a row. */
  watch: ReadyWatch;
  done: boolean;
  /** A failure found in init, acted on at the first tick (init cannot stop the actor). */
  pendingFailure?: HostFailure;
}

const MAX_TRANSITIONS = 20;

/** The HostActor's behavior. */
export function hostBehavior(deps: HostDeps, start: HostStart): Behavior<HostActorState, HostMsg> {
  const { pool, provider } = deps;

  async function save(s: HostActorState): Promise<void> {
    s.record.updated_at = Date.now();
    try {
      if (s.revision === undefined) {
        s.revision = await deps.hosts.put(s.record.host_id, s.record);
      } else {
        const rev = await deps.hosts.update(s.record.host_id, s.record, s.revision);
        if (rev === undefined) {
          // Another writer owns this key now (DESIGN §6): never overwrite its record.
          throw new Error(`host record ${s.record.host_id} changed under us (revision conflict)`);
        }
        s.revision = rev;
      }
    } catch (err) {
      // The record is how a restarted Drover finds this instance again: log loudly, keep going.
      s.revision = undefined;
      throw err;
    }
  }

  async function transition(
    s: HostActorState,
    ctx: ActorContext<HostMsg>,
    to: HostState,
    reason: string,
    extra: { stage?: ReadinessStage; failure?: HostFailure } = {},
  ): Promise<void> {
    const from = s.record.transitions.length === 0 ? undefined : s.record.state;
    const now = ctx.clock.now();
    const t: HostTransition = {
      host_id: s.record.host_id,
      pool_id: pool.id,
      from,
      to,
      at: now,
      reason,
      ...(extra.stage === undefined ? {} : { stage: extra.stage }),
      ...(extra.failure === undefined ? {} : { failure: extra.failure }),
    };
    s.record.state = to;
    if (extra.stage !== undefined) s.record.stage = extra.stage;
    if (extra.failure !== undefined) s.record.failure = extra.failure;
    if (to === 'ready') s.record.ready_at = now;
    if (to === 'terminated' || to === 'failed') s.record.ended_at = now;
    s.record.transitions = [...s.record.transitions, t].slice(-MAX_TRANSITIONS);
    await save(s).catch((err: unknown) => ctx.log.error({ err, host_id: s.record.host_id }, 'could not write the host record'));
    deps.bus.publish(subjects.hostState(s.record.host_id), t);
    const level = to === 'failed' ? 'warn' : 'info';
    ctx.log[level](
      { host_id: s.record.host_id, from, to, stage: extra.stage, class: extra.failure?.class, provider_host_id: s.record.provider_host_id },
      extra.failure === undefined ? `host ${from ?? 'new'} → ${to}: ${reason}` : `host failed (${extra.failure.class}): ${extra.failure.reason}`,
    );
  }

  function schedule(s: HostActorState, ctx: ActorContext<HostMsg>, ms = deps.probeIntervalMs): void {
    ctx.clock.clearTimeout(s.timer);
    s.timer = ctx.clock.setTimeout(() => ctx.self.tell({ type: 'host.tick' }), ms);
  }

  function enterStage(s: HostActorState, ctx: ActorContext<HostMsg>, stage: ReadinessStage): void {
    const now = ctx.clock.now();
    if (s.record.stage !== undefined && s.record.stage !== stage) deps.onStageDone?.(s.record.stage, now - s.stageStartedAt);
    s.record.stage = stage;
    s.stageStartedAt = now;
    s.lastProgressAt = now;
  }

  async function destroyInstance(s: HostActorState, ctx: ActorContext<HostMsg>): Promise<boolean> {
    const id = s.record.instance_id;
    if (id === undefined) return true;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await provider.destroy(id);
        return true;
      } catch (err) {
        ctx.log.warn({ err, host_id: s.record.host_id, instance_id: id, attempt }, 'destroy failed; retrying');
      }
    }
    return false;
  }

  async function fail(s: HostActorState, ctx: ActorContext<HostMsg>, failure: HostFailure): Promise<void> {
    if (s.done) return;
    s.done = true;
    ctx.clock.clearTimeout(s.timer);
    await transition(s, ctx, 'failed', failure.reason, { failure, ...(failure.stage === undefined ? {} : { stage: failure.stage }) });
    await s.exec?.close().catch(() => undefined);
    const destroyed = await destroyInstance(s, ctx);
    deps.report({ type: 'host.failed', host_id: s.record.host_id, provider_host_id: s.record.provider_host_id, failure, destroyed });
    ctx.stopSelf();
  }

  function engineUrl(info: InstanceInfo): string | undefined {
    const mapped = info.ports[`${pool.launch.port}/tcp`];
    return mapped === undefined ? undefined : `http://${mapped.host}:${mapped.port}`;
  }

  function replicaOf(s: HostActorState): ReplicaStatus {
    return {
      replica_id: s.record.host_id,
      pool_id: pool.id,
      url: s.record.engine_url ?? '',
      engine: pool.engine,
      model: pool.model,
      health: 'ready',
      slots_total: pool.slots_per_replica,
      ...(pool.ctx_max === undefined ? {} : { ctx_max: pool.ctx_max }),
      last_checked_at: Date.now(),
    };
  }

  /** provisioning / booting: wait for the instance to run and for SSH. */
  async function tickInstance(s: HostActorState, ctx: ActorContext<HostMsg>): Promise<void> {
    const id = s.record.instance_id;
    if (id === undefined) return;
    const info = await provider.describe(id).catch((err: unknown) => {
      ctx.log.warn({ err, host_id: s.record.host_id }, 'describe failed; will retry');
      return null;
    });
    if (info === null) return schedule(s, ctx);
    const now = ctx.clock.now();
    if (info === undefined) {
      return fail(s, ctx, { class: 'INFRA_FATAL', reason: 'the instance no longer exists at the provider', stage: 'instance_running', evidence: `instance ${id}: {"instances": null}` });
    }
    s.instance = info;
    if (s.record.state === 'provisioning' && info.status !== 'running') {
      const decision = decideReadiness({
        stage: 'instance_running',
        stageStartedAt: s.stageStartedAt,
        lastProgressAt: s.lastProgressAt,
        now,
        deadlines: deps.deadlines,
        observation: { passed: false, probes: [], instanceStatus: info.status, ...(info.status_msg === undefined ? {} : { statusMsg: info.status_msg }) },
      });
      if (decision.kind === 'fail') return fail(s, ctx, decision.failure);
      return schedule(s, ctx);
    }
    if (s.record.state === 'provisioning') {
      await transition(s, ctx, 'booting', `instance running (${info.status_msg ?? 'running'})`, { stage: 'ssh' });
      enterStage(s, ctx, 'ssh');
    }
    if (info.ssh === undefined) return schedule(s, ctx);
    s.record.ssh = info.ssh;
    const url = engineUrl(info);
    if (url !== undefined) s.record.engine_url = url;
    s.exec ??= deps.executorFor(info.ssh);
    const probe = await s.exec.run({ name: 'executor', command: "printf '__PROBE_OK__\\n'", timeoutMs: 15_000 });
    if (probe.transport_ok) {
      await transition(s, ctx, 'warming', 'SSH answers', { stage: 'executor' });
      enterStage(s, ctx, 'executor');
      return tickWarming(s, ctx);
    }
    const decision = decideReadiness({
      stage: 'ssh',
      stageStartedAt: s.stageStartedAt,
      lastProgressAt: s.lastProgressAt,
      now: ctx.clock.now(),
      deadlines: deps.deadlines,
      observation: { passed: false, probes: [probe], instanceStatus: info.status, ...(info.status_msg === undefined ? {} : { statusMsg: info.status_msg }) },
    });
    if (decision.kind === 'fail') return fail(s, ctx, decision.failure);
    schedule(s, ctx);
  }

  /** warming: walk the readiness stages as far as they pass in this tick. */
  async function tickWarming(s: HostActorState, ctx: ActorContext<HostMsg>): Promise<void> {
    const exec = s.exec;
    if (exec === undefined || s.record.stage === undefined) return schedule(s, ctx);
    for (;;) {
      const stage = s.record.stage;
      const obs = await deps.readiness.observe(stage, exec, { model: pool.model, port: pool.launch.port });
      // SSH stopped answering: ask the provider what happened to the instance before waiting out a deadline.
      if (obs.probes.length > 0 && obs.probes.every((p) => !p.transport_ok) && (await instanceGone(s, ctx, stage))) return;
      const now = ctx.clock.now();
      const assessed = assessProgress(s.progress, { at: now, stage, ...(obs.logTail === undefined ? {} : { logTail: obs.logTail }), markers: obs.markers });
      s.progress = assessed.state;
      if (assessed.progressed) s.lastProgressAt = now;
      const decision = decideReadiness({
        stage,
        stageStartedAt: s.stageStartedAt,
        lastProgressAt: s.lastProgressAt,
        now,
        deadlines: deps.deadlines,
        observation: {
          passed: obs.passed,
          probes: obs.probes,
          ...(obs.logTail === undefined ? {} : { logTail: obs.logTail }),
          ...(s.instance?.status_msg === undefined ? {} : { statusMsg: s.instance.status_msg }),
          ...(s.instance === undefined ? {} : { instanceStatus: s.instance.status }),
        },
      });
      if (decision.kind === 'fail') return fail(s, ctx, decision.failure);
      if (decision.kind === 'wait') {
        if (assessed.newMarkers.length > 0) ctx.log.debug({ host_id: s.record.host_id, stage, markers: assessed.newMarkers }, 'warming');
        return schedule(s, ctx);
      }
      if (decision.to === 'ready') {
        deps.onStageDone?.(stage, now - s.stageStartedAt);
        if (s.record.engine_url === undefined) {
          return fail(s, ctx, { class: 'INFRA_FATAL', reason: `the instance maps no public port for container port ${pool.launch.port}`, stage, evidence: JSON.stringify(s.instance?.ports ?? {}) });
        }
        await transition(s, ctx, 'ready', 'one generation succeeded', { stage });
        s.watch = READY_WATCH_START;
        // Warm-up evidence is done with: its fingerprint lines are slices of a whole log tail, which
        // they would keep alive for as long as the host serves.
        s.progress = undefined;
        deps.report({ type: 'host.ready', host_id: s.record.host_id, replica: replicaOf(s), provider_host_id: s.record.provider_host_id });
        // Serving is watched over HTTP; SSH reconnects if the host ever needs examining.
        await exec.disconnect().catch(() => undefined);
        return schedule(s, ctx);
      }
      await save(s).catch(() => undefined);
      enterStage(s, ctx, decision.to);
    }
  }

  /**
   * Re-reads the instance after transport failures; fails the host at once (INFRA_FATAL) when the
   * provider says it exited or no longer exists. True when the host was failed.
   */
  async function instanceGone(s: HostActorState, ctx: ActorContext<HostMsg>, stage: ReadinessStage): Promise<boolean> {
    const id = s.record.instance_id;
    if (id === undefined) return false;
    const info = await provider.describe(id).catch(() => null);
    if (info === null) return false;
    if (info !== undefined) s.instance = info;
    const dead = info === undefined || info.status === 'exited' || info.status === 'offline' || info.status === 'unknown' || info.status === 'stopped';
    if (!dead) return false;
    await fail(s, ctx, {
      class: 'INFRA_FATAL',
      reason: info === undefined ? 'the instance disappeared at the provider' : `the instance is ${info.status} at the provider`,
      stage,
      evidence: info === undefined ? `instance ${id}: {"instances": null}` : `actual_status: ${info.status}; status_msg: ${info.status_msg ?? ''}`,
    });
    return true;
  }

  /**
   * One check of a ready engine: `/health` + `/v1/models` then `/metrics` when the watch asks for the
   * model list, otherwise the routine `/health` + `/metrics`.
   */
  async function checkEngine(engine: EngineAdapter, listModels: boolean): Promise<ReadyCheckOutcome & { error?: string }> {
    if (!listModels) {
      const seen = await engine.check();
      return { ok: seen.healthy, ...(seen.load === undefined ? {} : { load: seen.load }), ...(seen.error === undefined ? {} : { error: seen.error }) };
    }
    const health = await engine.health(AbortSignal.timeout(5_000));
    if (!health.ready || !health.models.includes(pool.model)) return { ok: false, ...(health.error === undefined ? {} : { error: health.error }) };
    const load = await engine.load(AbortSignal.timeout(5_000)).catch(() => undefined);
    return { ok: true, ...(load === undefined ? {} : { load }) };
  }

  /** ready: the engine answers; scrape its load. Failed checks in a row (`afterReadyCheck`) → examine and fail. */
  async function tickReady(s: HostActorState, ctx: ActorContext<HostMsg>): Promise<void> {
    const url = s.record.engine_url;
    if (url === undefined) return schedule(s, ctx);
    const listModels = !s.watch.modelListed;
    const seen = await checkEngine(deps.engineFor(url), listModels);
    if (seen.ok && seen.load !== undefined) deps.report({ type: 'host.load', host_id: s.record.host_id, load: seen.load });
    const { watch, next } = afterReadyCheck(s.watch, seen, listModels, deps);
    s.watch = watch;
    if (next.kind === 'check') return schedule(s, ctx, next.inMs);
    if (await instanceGone(s, ctx, 'generation')) return;
    // The engine stopped answering: look at the host to tell why, then replace it.
    const probes = s.exec === undefined ? [] : [
      await s.exec.run({ name: 'gpu', command: 'nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,temperature.gpu --format=csv,noheader,nounits', timeoutMs: 10_000 }),
      await s.exec.run({ name: 'logs', command: 'tail -c 16384 /tmp/vllm.log 2>/dev/null || true', timeoutMs: 10_000 }),
    ];
    const logTail = probes.find((p) => p.name === 'logs')?.stdout;
    const verdict = classifyFailure({ stage: 'generation', probes, ...(logTail === undefined ? {} : { logTail }) });
    // This host already served with this config, so the config is not to blame: a workload verdict
    // (or no verdict) becomes UNKNOWN — replace without blacklisting or spending the pool's budget.
    const cls = verdict.class === 'INFRA_FATAL' || verdict.class === 'WORKLOAD_INCOMPATIBLE' ? verdict.class : 'UNKNOWN';
    return fail(s, ctx, {
      class: cls,
      reason: `engine stopped answering while serving (${seen.error ?? 'not ready'}); ${verdict.reason}`,
      stage: 'generation',
      evidence: verdict.evidence,
    });
  }

  return {
    schema: HostMsgSchema,
    async init(ctx) {
      const now = ctx.clock.now();
      if (start.kind === 'adopt') {
        const record = structuredClone(start.record);
        const s: HostActorState = {
          record, revision: undefined, stageStartedAt: now, progress: undefined, lastProgressAt: now,
          exec: undefined, instance: undefined, timer: undefined, watch: READY_WATCH_START, done: false,
        };
        // Re-prove an adopted host from the start: its engine may have died while we were away.
        enterStage(s, ctx, 'instance_running');
        await transition(s, ctx, 'provisioning', `adopted instance ${record.instance_id ?? '?'} after a restart (was ${start.record.state})`, { stage: 'instance_running' });
        ctx.self.tell({ type: 'host.tick' });
        return s;
      }
      const { offer, host_id: hostId } = start;
      const record: HostRecord = {
        host_id: hostId,
        pool_id: pool.id,
        owner: deps.nodeId,
        provider: provider.name,
        provider_host_id: offer.provider_host_id,
        machine_id: offer.machine_id,
        offer_id: offer.offer_id,
        gpu_name: offer.gpu_name,
        price_per_hour: offer.dph_total,
        engine: pool.engine,
        model: pool.model,
        state: 'requested',
        created_at: now,
        updated_at: now,
        transitions: [],
      };
      const s: HostActorState = {
        record, revision: undefined, stageStartedAt: now, progress: undefined, lastProgressAt: now,
        exec: undefined, instance: undefined, timer: undefined, watch: READY_WATCH_START, done: false,
      };
      // The record exists before the instance does: a crash between create and the next write
      // leaves a labelled instance that reconciliation destroys.
      await transition(s, ctx, 'requested', `offer ${offer.offer_id} on host ${offer.provider_host_id} (${offer.gpu_name}, $${offer.dph_total}/h)`);
      try {
        const created = await provider.create(offer, pool.launch, `${deps.labelPrefix}${hostId}`, pool.model);
        s.record.instance_id = created.instance_id;
      } catch (err) {
        // Not a host failure: the offer was taken or the provider refused. The pool tries another
        // offer. The create may still have rented something (a 5xx after the fact): whatever
        // carries this host's label is destroyed, so a failed create never leaks an instance.
        await provider
          .listByLabel(`${deps.labelPrefix}${hostId}`)
          .then((found) => Promise.all(found.map((i) => provider.destroy(i.instance_id))))
          .catch((cleanupErr: unknown) => ctx.log.warn({ err: cleanupErr, host_id: hostId }, 'could not check for an instance left by a failed create; reconciliation will'));
        s.pendingFailure = {
          class: 'UNKNOWN',
          reason: `could not rent offer ${offer.offer_id}: ${(err as Error).message}`,
          stage: 'instance_running',
          evidence: (err as Error).message,
        };
        ctx.self.tell({ type: 'host.tick' });
        return s;
      }
      enterStage(s, ctx, 'instance_running');
      await transition(s, ctx, 'provisioning', `instance ${s.record.instance_id} created`, { stage: 'instance_running' });
      ctx.self.tell({ type: 'host.tick' });
      return s;
    },
    async receive(s, msg, ctx) {
      if (s.done) return s;
      if (s.pendingFailure !== undefined) {
        await fail(s, ctx, s.pendingFailure);
        return s;
      }
      switch (msg.type) {
        case 'host.tick':
          switch (s.record.state) {
            case 'provisioning':
            case 'booting':
              await tickInstance(s, ctx);
              break;
            case 'warming':
              await tickWarming(s, ctx);
              break;
            case 'ready':
              await tickReady(s, ctx);
              break;
            default:
              break;
          }
          return s;
        case 'host.terminate': {
          s.done = true;
          ctx.clock.clearTimeout(s.timer);
          await transition(s, ctx, 'draining', msg.reason);
          await s.exec?.close().catch(() => undefined);
          const destroyed = await destroyInstance(s, ctx);
          await transition(s, ctx, 'terminated', destroyed ? 'instance destroyed' : 'destroy failed; reconciliation will retry');
          deps.report({ type: 'host.terminated', host_id: s.record.host_id });
          ctx.stopSelf();
          return s;
        }
      }
    },
    async onStop(s, _reason, ctx) {
      if (s === undefined) return;
      ctx.clock.clearTimeout(s.timer);
      await s.exec?.close().catch(() => undefined);
      if (s.record.engine_url !== undefined) deps.releaseEngine?.(s.record.engine_url);
    },
  };
}

/** Reference kept so the report type is used by pool code without a cycle. */
export type HostRef = ActorRef<HostMsg>;
