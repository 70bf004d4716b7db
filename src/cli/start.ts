/**
 * Starts one whole Drover process from a resolved config: the embedded nats-server (unless
 * DROVER_NATS_URL joins an existing cluster), the simulated engines of the default setup, the
 * transport, and the actor tree with its HTTP API. Tests start the same thing on random ports.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import {
  KV_BUCKETS,
  TaskRecordSchema,
  type DroverConfig,
  type StaticPoolConfig,
} from '../protocols/index.js';
import { connectTransport, startEmbeddedNats, type EmbeddedNats, type Transport } from '../transport/index.js';
import { startSimEngine, type SimEngine } from '../sim/index.js';
import { createDroverMetrics } from '../observability/metrics.js';
import { startDroverActors, type DroverActors } from '../actors/drover.js';
import { AdapterCache } from '../actors/adapters.js';
import { openFleetStores, setupFleet, type FleetSetup } from './fleet-setup.js';
import { startOpsService } from '../ops/index.js';

/** A running Drover process. */
export interface DroverHandle {
  nodeId: string;
  httpUrl: string;
  natsUrl: string;
  config: DroverConfig;
  pools: StaticPoolConfig[];
  sims: SimEngine[];
  /** The fleet side (provider, simulated marketplace) when fleet pools are configured. */
  fleet: FleetSetup | undefined;
  transport: Transport;
  actors: DroverActors;
  nats: EmbeddedNats | undefined;
  /** Stops everything this process started, in reverse order. */
  stop(): Promise<void>;
}

/** Options that only embedders and tests need. */
export interface StartOptions {
  logger: Logger;
  /** Repo root, to find nats.conf when the configured path is relative. */
  root?: string;
  /** Called when a top-level actor gives up (default: log fatal). */
  onFatal?: (path: string, error: unknown) => void;
}

/** The pool the in-process simulated engines form (config `sim`). */
export const SIM_POOL_ID = 'sim';

async function nodeIdFor(config: DroverConfig, dataDir: string): Promise<string> {
  if (config.node_id !== undefined) return config.node_id;
  const file = join(dataDir, 'node-id');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const id = `node-${randomUUID().slice(0, 8)}`;
  await writeFile(file, `${id}\n`);
  return id;
}

/** Starts Drover; resolves once the API listens and placement knows every configured pool. */
export async function startDrover(config: DroverConfig, opts: StartOptions): Promise<DroverHandle> {
  const log = opts.logger;
  const root = opts.root ?? process.cwd();
  const dataDir = resolve(root, config.data_dir);
  await mkdir(dataDir, { recursive: true });
  const nodeId = await nodeIdFor(config, dataDir);
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };
  try {
    let nats: EmbeddedNats | undefined;
    let natsUrl = config.nats.url;
    if (natsUrl === undefined) {
      const configFile = config.nats.config_file === null ? undefined : resolve(root, config.nats.config_file);
      if (configFile !== undefined && !existsSync(configFile)) throw new Error(`nats config file ${configFile} does not exist`);
      nats = await startEmbeddedNats({
        storeDir: join(dataDir, 'nats'),
        ...(configFile === undefined ? {} : { configFile }),
        ...(config.nats.port === undefined ? {} : { port: config.nats.port }),
        logger: log.child({ component: 'nats-server' }),
      });
      const embedded = nats;
      cleanups.push(() => embedded.stop());
      natsUrl = nats.url;
    }

    const sims: SimEngine[] = [];
    const pools: StaticPoolConfig[] = config.pools.filter((p): p is StaticPoolConfig => p.kind === 'static');
    if (config.sim !== null && config.sim.engines > 0) {
      for (let i = 0; i < config.sim.engines; i += 1) {
        const sim = await startSimEngine({
          model: config.sim.model,
          ttftMs: config.sim.ttft_ms,
          tokensPerSec: config.sim.tokens_per_s,
          maxNumSeqs: config.sim.max_num_seqs,
        });
        sims.push(sim);
        cleanups.push(() => sim.close());
      }
      pools.push({
        kind: 'static',
        id: SIM_POOL_ID,
        model: config.sim.model,
        engine: 'vllm',
        slots_per_replica: config.sim.max_num_seqs,
        replicas: sims.map((s, i) => ({ id: `sim-${i}`, url: s.url })),
        health_interval_ms: 2_000,
        unready_after_failures: 2,
      });
    }

    const transport = await connectTransport({
      url: natsUrl,
      name: `drover-${nodeId}`,
      logger: log.child({ component: 'transport' }),
      eventsMaxAgeMs: config.events.max_age_ms,
    });
    cleanups.push(() => transport.close());
    const tasksKv = await transport.kv(KV_BUCKETS.tasks, TaskRecordSchema, { maxAgeMs: config.tasks.record_ttl_ms });

    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'drover_process_' });
    const metrics = createDroverMetrics(registry);
    const adapters = new AdapterCache();
    const stores = await openFleetStores(transport);
    // Read at scrape time, so it is right whoever edits the blacklist (pools, operators, other nodes).
    registry.registerMetric(
      new Gauge({
        name: 'drover_blacklist_size',
        help: 'Blacklist entries by scope.',
        labelNames: ['scope'],
        registers: [],
        async collect() {
          const entries = await stores.blacklist.entries().catch(() => []);
          this.reset();
          for (const scope of ['global', 'workload', 'operator'] as const) this.set({ scope }, entries.filter((e) => e.value.scope === scope).length);
        },
      }),
    );
    const fleet = await setupFleet({ stores, config, transport, nodeId, log, metrics, adapters, root });
    if (fleet !== undefined) cleanups.push(() => fleet.stop());
    const ops = await startOpsService({
      transport,
      ...stores,
      nodeId,
      clock: { now: () => Date.now() },
      logger: log.child({ component: 'ops' }),
      defaultStrictness: config.fleet.strictness,
    });
    cleanups.push(() => ops.stop());
    const actors = await startDroverActors({
      adapters,
      ...(fleet === undefined ? {} : { fleet: { pools: fleet.pools, depsFor: fleet.depsFor, retire: fleet.retire } }),
      config,
      pools,
      nodeId,
      transport,
      tasksKv,
      registry,
      metrics,
      log,
      onFatal: opts.onFatal ?? ((path, error) => log.fatal({ actor: path, err: error }, 'a top-level actor gave up')),
    });
    cleanups.push(() => actors.stop());
    await waitForPools(actors, [...pools.map((p) => p.id), ...(fleet?.pools.map((p) => p.id) ?? [])]);
    return {
      fleet,
      nodeId,
      httpUrl: actors.httpUrl,
      natsUrl,
      config,
      pools,
      sims,
      transport,
      actors,
      nats,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Waits (bounded) until placement has heard from every pool, so the first submit can be placed. */
async function waitForPools(actors: DroverActors, poolIds: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const known = new Set((await actors.gateway.pools().catch(() => [])).map((p) => p.pool_id));
    if (poolIds.every((id) => known.has(id))) return;
    if (Date.now() > deadline) throw new Error(`placement did not hear from pools ${poolIds.filter((id) => !known.has(id)).join(', ')} within 10 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
