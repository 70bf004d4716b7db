/**
 * Builds what fleet pools need in one process: the provider (Vast.ai with VAST_API_KEY, your own
 * hosts with a fleet file, otherwise the simulated marketplace started right here), the SSH
 * identity used for probes, the KV stores of hosts, blacklist, reputation and settings, and the
 * per-pool dependencies of the fleet PoolActors.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import {
  BlacklistEntrySchema,
  HostRecordSchema,
  KV_BUCKETS,
  PoolSpecRecordSchema,
  ReputationSchema,
  SETTINGS_KEYS,
  StrictnessSettingSchema,
  type BlacklistEntry,
  type DroverConfig,
  type HostRecord,
  type PoolSpecRecord,
  type Reputation,
  type StrictnessSetting,
  type FleetPoolConfig,
  type Strictness,
} from '../protocols/index.js';
import { resolveStageDeadlines } from '../policy/index.js';
import { createSshExecutor, generateSshKeyPair, readinessAdapterFor } from '../probes/index.js';
import { StaticProvider, VastProvider, engineKeepAliveMs, type Provider } from '../providers/index.js';
import { DEFAULT_SCENARIO, loadScenario, startSimHost, startSimMarketplace, type SimMarketplace } from '../sim/index.js';
import type { KvStore, Transport } from '../transport/index.js';
import type { DroverMetrics } from '../observability/metrics.js';
import type { FleetPoolDeps } from '../actors/fleet-pool.js';
import type { AdapterCache } from '../actors/adapters.js';

/** The fleet side of a process. */
export interface FleetSetup {
  pools: FleetPoolConfig[];
  depsFor: (pool: FleetPoolConfig) => FleetPoolDeps;
  provider: Provider;
  marketplace: SimMarketplace | undefined;
  /** Which provider: `vast`, `static` (fleet file) or `sim`. */
  mode: 'vast' | 'static' | 'sim';
  /** Destroys every instance of a pool (used when its actor is stopped for good). */
  retire(poolId: string): Promise<void>;
  stop(): Promise<void>;
}

/** The fleet's durable state (DESIGN §6), shared by fleet pools and the operator service. */
export interface FleetStores {
  hosts: KvStore<HostRecord>;
  blacklist: KvStore<BlacklistEntry>;
  reputation: KvStore<Reputation>;
  pools: KvStore<PoolSpecRecord>;
  settings: KvStore<StrictnessSetting>;
}

/** Opens (creating when missing) the fleet's KV buckets. */
export async function openFleetStores(transport: Transport): Promise<FleetStores> {
  const [hosts, blacklist, reputation, pools, settings] = await Promise.all([
    transport.kv(KV_BUCKETS.hosts, HostRecordSchema, {}),
    transport.kv(KV_BUCKETS.blacklist, BlacklistEntrySchema, {}),
    transport.kv(KV_BUCKETS.reputation, ReputationSchema, {}),
    transport.kv(KV_BUCKETS.pools, PoolSpecRecordSchema, {}),
    transport.kv(KV_BUCKETS.settings, StrictnessSettingSchema, {}),
  ]);
  return { hosts, blacklist, reputation, pools, settings };
}

/** Sets up the provider and stores for the configured fleet pools (none → nothing started). */
export async function setupFleet(opts: {
  stores: FleetStores;
  config: DroverConfig;
  transport: Transport;
  nodeId: string;
  log: Logger;
  metrics: DroverMetrics;
  adapters: AdapterCache;
  root: string;
}): Promise<FleetSetup | undefined> {
  const { config, transport, log } = opts;
  const pools = config.pools.filter((p): p is FleetPoolConfig => p.kind === 'fleet');
  if (pools.length === 0) return undefined;
  const fleet = config.fleet;

  let provider: Provider;
  let marketplace: SimMarketplace | undefined;
  let privateKey: string;
  let mode: FleetSetup['mode'];
  if (fleet.vast_api_key !== undefined) {
    mode = 'vast';
    const keyPath = fleet.vast_ssh_key_path ?? resolve(homedir(), '.ssh/id_rsa_vastai');
    privateKey = await readFile(keyPath, 'utf8').catch(() => {
      throw new Error(`cannot read the SSH key for Vast hosts at ${keyPath}: set VAST_SSH_KEY_PATH`);
    });
    provider = new VastProvider({ apiUrl: fleet.vast_api_url, apiKey: fleet.vast_api_key, logger: log.child({ component: 'vast' }) });
  } else if (fleet.fleet_file !== undefined) {
    mode = 'static';
    const keyPath = fleet.vast_ssh_key_path ?? resolve(homedir(), '.ssh/id_ed25519');
    privateKey = await readFile(keyPath, 'utf8');
    provider = await StaticProvider.fromFile(resolve(opts.root, fleet.fleet_file), {
      executorFor: (host) => createSshExecutor({ host: host.host, port: host.port, user: host.user, privateKey, keyPath }, log.child({ component: 'ssh' })),
      logger: log.child({ component: 'static-provider' }),
    });
  } else {
    mode = 'sim';
    const keys = generateSshKeyPair();
    privateKey = keys.private;
    const scenario = fleet.sim_scenario === undefined ? DEFAULT_SCENARIO : await loadScenario(resolve(opts.root, fleet.sim_scenario));
    const apiKey = 'sim-vast-key';
    marketplace = await startSimMarketplace({
      scenario,
      apiKey,
      hostFactory: startSimHost,
      authorizedKeys: [keys.public],
      timeScale: fleet.sim_time_scale,
      logger: log.child({ component: 'sim-marketplace' }),
    });
    provider = new VastProvider({ apiUrl: marketplace.url, apiKey, logger: log.child({ component: 'vast' }) });
    log.info({ url: marketplace.url, offers: scenario.offers.length }, 'no provider credentials: renting from the simulated marketplace');
  }

  const { hosts, blacklist, reputation, settings } = opts.stores;
  // Operators change strictness at run time (`drover ctl strictness set`); the config is the default.
  const strictness = async (): Promise<Strictness> =>
    (await settings.get(SETTINGS_KEYS.strictness).catch(() => undefined))?.value.value ?? fleet.strictness;
  // A pool's desired state lives in KV once it exists (operators scale and drain it); the config
  // only seeds it, never overwrites it.
  for (const pool of pools) {
    await opts.stores.pools.create(pool.id, {
      pool_id: pool.id,
      model: pool.model,
      engine: pool.engine,
      desired_replicas: pool.replicas,
      draining: false,
      updated_at: Date.now(),
      updated_by: 'config',
    });
  }
  const sshLog = log.child({ component: 'ssh' });
  const depsFor = (pool: FleetPoolConfig): FleetPoolDeps => {
    const deadlines = resolveStageDeadlines(fleet.stage_deadlines_ms, pool.stage_deadlines_ms);
    // Drover launches this pool's engines, so it knows how long they keep a connection. Worked out
    // once here: `engineFor` runs at every check.
    const engineHints = { serverKeepAliveMs: engineKeepAliveMs(pool.launch) };
    return {
      pool,
      provider,
      bus: transport.bus,
      stores: { hosts, blacklist, reputation },
      nodeId: opts.nodeId,
      strictness,
      spec: async () => (await opts.stores.pools.get(pool.id).catch(() => undefined))?.value,
      metrics: opts.metrics,
      reconcileMs: Math.max(1_000, fleet.probe_interval_ms),
      host: {
        executorFor: (ssh) => createSshExecutor({ host: ssh.host, port: ssh.port, user: ssh.user, privateKey, handshakeTimeoutMs: 10_000 }, sshLog),
        readiness: readinessAdapterFor(pool.engine),
        engineFor: (url) => opts.adapters.get(pool.engine, url, engineHints),
        releaseEngine: (url) => opts.adapters.release(pool.engine, url),
        deadlines,
        probeIntervalMs: fleet.probe_interval_ms,
        ...(fleet.idle_check_interval_ms === undefined ? {} : { idleCheckIntervalMs: fleet.idle_check_interval_ms }),
        onStageDone: (stage, ms) => opts.metrics.stageSeconds.observe({ stage }, ms / 1_000),
      },
    };
  };
  const retire = async (poolId: string): Promise<void> => {
    const instances = await provider.listByLabel(`drover/${opts.nodeId}/${poolId}/`);
    for (const inst of instances) await provider.destroy(inst.instance_id);
    log.warn({ pool_id: poolId, destroyed: instances.length }, 'pool retired: its instances were destroyed');
  };
  return {
    pools,
    depsFor,
    provider,
    marketplace,
    mode,
    retire,
    async stop() {
      await marketplace?.close();
    },
  };
}
