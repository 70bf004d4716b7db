/**
 * The supervision tree of one Drover process (DESIGN §3):
 *
 *   drover ─┬─ tasks      TaskSupervisor → task-<id>-<attempt>   (temporary)
 *           ├─ placement  PlacementActor                         (permanent)
 *           ├─ fleet      FleetSupervisor → pool-<id>            (permanent)
 *           └─ api        ApiActor                               (permanent)
 *
 * Children are spawned in dependency order: placement recovers running tasks from the task
 * supervisor, pools publish to placement over NATS, and the API comes last so that it never
 * answers before the scheduler can.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DroverConfig, FleetPoolConfig, StaticPoolConfig, TaskRecord } from '../protocols/index.js';
import type { KvStore, Transport } from '../transport/index.js';
import type { DroverMetrics } from '../observability/metrics.js';
import { startActorSystem } from './runtime.js';
import type { ActorRef, ActorSystem, ChildOptions, Clock } from './types.js';
import { AdapterCache } from './adapters.js';
import { apiBehavior, type ApiMsg } from './api.js';
import { fleetBehavior } from './fleet.js';
import type { FleetPoolDeps } from './fleet-pool.js';
import { NatsTaskGateway } from './gateway.js';
import { placementBehavior, type PlacementMsg } from './placement.js';
import { TaskRecordWriter } from './task-records.js';
import { taskSupervisorBehavior, type TaskSupervisorMsg } from './tasks.js';

/** Everything the actor tree needs from the process. */
export interface DroverActorsDeps {
  config: DroverConfig;
  pools: StaticPoolConfig[];
  nodeId: string;
  transport: Transport;
  tasksKv: KvStore<TaskRecord>;
  registry: Registry;
  metrics: DroverMetrics;
  log: Logger;
  clock?: Clock;
  onFatal: (path: string, error: unknown) => void;
  /** Engine adapters shared with the fleet setup (one connection pool per engine URL). */
  adapters?: AdapterCache;
  /** Fleet pools and their dependencies, when any are configured. */
  fleet?: { pools: FleetPoolConfig[]; depsFor: (pool: FleetPoolConfig) => FleetPoolDeps; retire: (poolId: string) => Promise<void> };
}

/** The running tree. */
export interface DroverActors {
  system: ActorSystem;
  placement: ActorRef<PlacementMsg>;
  tasks: ActorRef<TaskSupervisorMsg>;
  api: ActorRef<ApiMsg>;
  gateway: NatsTaskGateway;
  /** HTTP base URL of the API. */
  httpUrl: string;
  stop(): Promise<void>;
}

const PERMANENT: ChildOptions = {
  kind: 'permanent',
  restart: { maxRestarts: 5, withinMs: 60_000 },
  backoff: { minBackoffMs: 100, maxBackoffMs: 10_000, randomFactor: 0.2 },
};

/** Starts the supervision tree. */
export async function startDroverActors(deps: DroverActorsDeps): Promise<DroverActors> {
  const { config, transport, log } = deps;
  const system = startActorSystem({
    name: 'drover',
    log,
    onFatal: deps.onFatal,
    // Paths carry task ids; the label keeps only the kind of actor (bounded cardinality).
    onRestart: (path) => deps.metrics.actorRestarts.inc({ actor: path.split('/').slice(1).map((p) => p.replace(/-.*$/, '')).join('/') }),
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  });
  const adapters = deps.adapters ?? new AdapterCache();
  const records = new TaskRecordWriter(deps.tasksKv, log.child({ component: 'task-records' }));
  // Placement needs the task supervisor at spawn time; the supervisor reaches placement later.
  const placementRef: { current?: ActorRef<PlacementMsg> } = {};
  const tasks = system.spawn(
    'tasks',
    taskSupervisorBehavior({
      events: transport.events,
      adapterFor: (d) => adapters.get(d.replica.engine, d.replica.url),
      idleTimeoutMs: config.tasks.idle_timeout_ms,
      placement: () => {
        if (placementRef.current === undefined) throw new Error('placement is not started');
        return placementRef.current;
      },
    }),
    PERMANENT,
  );
  const placement = system.spawn(
    'placement',
    placementBehavior({
      transport,
      records,
      nodeId: deps.nodeId,
      admission: config.admission,
      maxAttempts: config.tasks.max_attempts,
      metrics: deps.metrics,
      tasks,
      loadOwnRecords: async () =>
        (await deps.tasksKv.entries())
          .filter((e) => e.value.owner === deps.nodeId && (e.value.state === 'queued' || e.value.state === 'running'))
          .map((e) => ({ record: e.value, revision: e.revision })),
    }),
    PERMANENT,
  );
  placementRef.current = placement;
  system.spawn(
    'fleet',
    fleetBehavior({
      bus: transport.bus,
      pools: deps.pools,
      adapterFor: (kind, url) => adapters.get(kind, url),
      ...(deps.fleet === undefined ? {} : { fleetPools: deps.fleet.pools, fleetDeps: deps.fleet.depsFor, retire: deps.fleet.retire }),
    }),
    PERMANENT,
  );
  const gateway = new NatsTaskGateway(transport, deps.tasksKv);
  const api = system.spawn(
    'api',
    apiBehavior({
      gateway,
      registry: deps.registry,
      logger: log.child({ component: 'api' }),
      host: config.http.host,
      port: config.http.port,
      ...(config.api_token === undefined ? {} : { apiToken: config.api_token }),
    }),
    PERMANENT,
  );
  const httpUrl = await api.ask<string>({ type: 'api.address' }, 15_000);
  return {
    system,
    placement,
    tasks,
    api,
    gateway,
    httpUrl,
    async stop() {
      await system.stop();
      await records.flush();
      await adapters.closeAll();
    },
  };
}
