/** Helpers for fleet tests: scenario files, a fleet pool config, and views of pools, hosts, blacklist. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  BlacklistEntrySchema,
  HostRecordSchema,
  KV_BUCKETS,
  type BlacklistEntry,
  type DroverConfigInput,
  type HostRecord,
  type PoolView,
} from '../../src/protocols/index.js';
import type { ScenarioOfferInput } from '../../src/sim/scenario.js';
import type { TestDrover } from './drover.js';
import { getJson } from './sse.js';

export const TINY = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';

/** An offer of a test scenario with sensible defaults. */
export function offer(id: number, profile: ScenarioOfferInput['profile'], dph: number, extra: Partial<ScenarioOfferInput> = {}): ScenarioOfferInput {
  return {
    id,
    host_id: 100 + id,
    machine_id: 1000 + id,
    gpu_name: 'RTX 4090',
    gpu_ram: 24_564,
    reliability2: 0.999,
    dph_total: dph,
    direct_port_count: 40,
    profile,
    ...extra,
  };
}

/** Writes a scenario file and returns its path. */
export async function scenarioFile(offers: ScenarioOfferInput[]): Promise<string> {
  const file = join(tmpdir(), `drover-scenario-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify({ offers }));
  return file;
}

/** Config of a Drover renting from the simulated marketplace with one fleet pool `gpu`. */
export function fleetConfig(scenario: string, pool: Record<string, unknown> = {}, fleet: Record<string, unknown> = {}): DroverConfigInput {
  return {
    sim: null,
    pools: [{ kind: 'fleet', id: 'gpu', model: TINY, replicas: 1, slots_per_replica: 4, ...pool } as never],
    fleet: {
      sim_scenario: scenario,
      sim_time_scale: 0.02,
      probe_interval_ms: 100,
      strictness: 'aggressive',
      stage_deadlines_ms: { instance_running: 10_000, ssh: 3_000, executor: 3_000, gpu: 3_000, engine_process: 4_000, port_bound: 4_000, model_listed: 4_000, generation: 4_000 },
      ...fleet,
    } as never,
  };
}

/** The pool view of `gpu` (or another pool). */
export async function poolView(d: TestDrover, id = 'gpu'): Promise<PoolView | undefined> {
  const res = await getJson(`${d.httpUrl}/v2/pools`);
  return (res.body?.pools as PoolView[] | undefined)?.find((p) => p.pool_id === id);
}

/** Every host record in KV. */
export async function hostRecords(d: TestDrover): Promise<HostRecord[]> {
  const kv = await d.transport.kv(KV_BUCKETS.hosts, HostRecordSchema, {});
  return (await kv.entries()).map((e) => e.value);
}

/** Every blacklist entry in KV. */
export async function blacklistEntries(d: TestDrover): Promise<BlacklistEntry[]> {
  const kv = await d.transport.kv(KV_BUCKETS.blacklist, BlacklistEntrySchema, {});
  return (await kv.entries()).map((e) => e.value);
}
