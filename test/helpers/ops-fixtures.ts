/**
 * An operator service on a test server: the KV stores of DESIGN §6 opened on a transport, a few
 * seeded records (hosts in two pools, one failed with evidence, reputation, blacklist entries, a
 * pool spec) and `drover-ops` started over them with a fixed clock.
 */
import type { Logger } from 'pino';
import { openFleetStores, type FleetStores } from '../../src/cli/fleet-setup.js';
import type { HostRecord, PoolSpecRecord } from '../../src/protocols/index.js';
import { startOpsService } from '../../src/ops/index.js';
import type { ServiceHandle, Transport } from '../../src/transport/index.js';

/** The fixed time of the fixture clock. */
export const OPS_NOW = 1_700_000_000_000;

/** The stores the ops service runs over. */
/** The stores the ops service edits: the fleet's KV buckets. */
export type OpsStores = FleetStores;

/** A ready host of pool `alpha`. */
export const READY_HOST: HostRecord = {
  host_id: 'h-ready',
  pool_id: 'alpha',
  owner: 'node-test',
  provider: 'vast',
  instance_id: '9001',
  provider_host_id: '111',
  gpu_name: 'RTX 4090',
  price_per_hour: 0.4,
  engine: 'vllm',
  model: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
  state: 'ready',
  created_at: OPS_NOW - 60_000,
  ready_at: OPS_NOW - 10_000,
  updated_at: OPS_NOW - 10_000,
  transitions: [
    { host_id: 'h-ready', pool_id: 'alpha', from: 'warming', to: 'ready', at: OPS_NOW - 10_000, reason: 'one-token generation succeeded' },
  ],
};

/** A host of pool `beta` that failed INFRA_FATAL at the GPU stage. */
export const FAILED_HOST: HostRecord = {
  host_id: 'h-failed',
  pool_id: 'beta',
  owner: 'node-test',
  provider: 'vast',
  instance_id: '9002',
  provider_host_id: '222',
  engine: 'vllm',
  model: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
  state: 'failed',
  stage: 'gpu',
  failure: { class: 'INFRA_FATAL', reason: 'GPU has fallen off the bus', stage: 'gpu', evidence: 'Unable to determine the device handle for GPU0000:01:00.0: Unknown Error' },
  created_at: OPS_NOW - 120_000,
  ended_at: OPS_NOW - 5_000,
  updated_at: OPS_NOW - 5_000,
  transitions: [
    { host_id: 'h-failed', pool_id: 'beta', from: 'provisioning', to: 'booting', at: OPS_NOW - 100_000, reason: 'instance running' },
    {
      host_id: 'h-failed',
      pool_id: 'beta',
      from: 'booting',
      to: 'failed',
      at: OPS_NOW - 5_000,
      reason: 'GPU has fallen off the bus',
      stage: 'gpu',
      failure: { class: 'INFRA_FATAL', reason: 'GPU has fallen off the bus', stage: 'gpu', evidence: 'Unable to determine the device handle' },
    },
  ],
};

/** The pool spec `alpha` starts from. */
export const ALPHA_SPEC: PoolSpecRecord = {
  pool_id: 'alpha',
  model: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
  engine: 'vllm',
  desired_replicas: 2,
  draining: false,
  updated_at: OPS_NOW - 1_000,
  updated_by: 'config',
};

/** Opens (creating) the buckets on `transport`. */
export function openOpsStores(transport: Transport): Promise<OpsStores> {
  return openFleetStores(transport);
}

/** Empties every store and writes the fixture records again (between tests). */
export async function resetOps(stores: OpsStores): Promise<void> {
  for (const s of [stores.hosts, stores.blacklist, stores.pools, stores.settings, stores.reputation]) {
    for (const k of await s.keys()) await s.delete(k);
  }
  await seedOps(stores);
}

/** Writes the fixture records (overwriting). */
export async function seedOps(stores: OpsStores): Promise<void> {
  await stores.hosts.put(READY_HOST.host_id, READY_HOST);
  await stores.hosts.put(FAILED_HOST.host_id, FAILED_HOST);
  await stores.reputation.put('222', { provider_host_id: '222', successes: 1, infra_failures: 2, workload_failures: 0, last_seen: OPS_NOW - 5_000, last_failure_at: OPS_NOW - 5_000 });
  await stores.blacklist.put('global.222', { provider_host_id: '222', scope: 'global', reason: 'INFRA_FATAL: GPU has fallen off the bus', by: 'pool:beta', at: OPS_NOW - 5_000 });
  await stores.blacklist.put('workload.333.vllm_tiny', { provider_host_id: '333', scope: 'workload', workload: 'vllm:tiny', reason: 'driver too old', by: 'pool:beta', at: OPS_NOW - 4_000 });
  await stores.pools.put(ALPHA_SPEC.pool_id, ALPHA_SPEC);
}

/** Starts `drover-ops` over the stores with a clock fixed at {@link OPS_NOW}. */
export function startTestOpsService(transport: Transport, stores: OpsStores, logger: Logger): Promise<ServiceHandle> {
  return startOpsService({ transport, ...stores, nodeId: 'node-test', clock: { now: () => OPS_NOW }, logger });
}
