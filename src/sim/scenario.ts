/**
 * Scenarios of the simulated marketplace: which offers it lists and how the host behind each one
 * behaves (its HostProfile). A scenario is a YAML or JSON file validated here; DEFAULT_SCENARIO is
 * the mixed fleet `drover up` rents from when no provider is configured.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HOST_PROFILES } from './host-types.js';

/** One offer of a scenario: Vast offer fields (reference/vast-api.md §3) plus the host's profile. */
export const ScenarioOfferSchema = z.object({
  /** The ask id rented with `PUT /api/v0/asks/{id}/`. */
  id: z.number().int().positive(),
  /** Offers on the same host share it (Drover blacklists by host). */
  host_id: z.number().int().positive(),
  machine_id: z.number().int().positive(),
  gpu_name: z.string().min(1),
  /** Per GPU, in MB (as Vast's raw JSON). */
  gpu_ram: z.number().positive(),
  num_gpus: z.number().int().positive().default(1),
  reliability2: z.number().min(0).max(1),
  dph_total: z.number().nonnegative(),
  direct_port_count: z.number().int().nonnegative(),
  cuda_max_good: z.number().positive().default(12.4),
  driver_version: z.string().default('550.54.14'),
  geolocation: z.string().default('Texas, US'),
  inet_down: z.number().nonnegative().default(800),
  inet_up: z.number().nonnegative().default(500),
  verified: z.boolean().default(true),
  rentable: z.boolean().default(true),
  external: z.boolean().default(false),
  profile: z.enum(HOST_PROFILES).default('healthy'),
});
export type ScenarioOffer = z.infer<typeof ScenarioOfferSchema>;
export type ScenarioOfferInput = z.input<typeof ScenarioOfferSchema>;

/** A marketplace scenario: its offers, with unique ids. */
export const ScenarioSchema = z
  .object({
    name: z.string().optional(),
    description: z.string().optional(),
    offers: z.array(ScenarioOfferSchema),
  })
  .refine((s) => new Set(s.offers.map((o) => o.id)).size === s.offers.length, { message: 'offer ids must be unique' });
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/** Parses a scenario from YAML or JSON text. */
export function parseScenario(text: string): Scenario {
  return ScenarioSchema.parse(parseYaml(text));
}

/** Reads a scenario file (YAML or JSON). */
export async function loadScenario(path: string): Promise<Scenario> {
  return parseScenario(await readFile(path, 'utf8'));
}

/**
 * The default mixed fleet for TinyLlama (any ≥8 GB GPU fits it), listed by price. With
 * strictness `balanced` (reliability ≥ 0.98, ≥ 8 direct ports) and cheapest-first ranking, a pool
 * of 2 first rents bad hosts and settles only after blacklisting them:
 *
 * | offer | host | GPU       | rel.  | ports | $/h   | profile            | why it is here                                   |
 * |-------|------|-----------|-------|-------|-------|--------------------|--------------------------------------------------|
 * | 1001  | 501  | RTX 3070  | 0.970 | 24    | 0.050 | healthy            | below balanced/strict reliability (aggressive only) |
 * | 1002  | 502  | RTX 3060  | 0.990 | 20    | 0.060 | ssh_never          | cheapest eligible: SSH never answers             |
 * | 1003  | 503  | RTX 3060  | 0.985 | 12    | 0.065 | container_fail     | OCI runtime create failed → exited               |
 * | 1004  | 504  | RTX 3080  | 0.990 | 4     | 0.070 | healthy            | too few direct ports for balanced/strict         |
 * | 1005  | 513  | RTX A6000 | 0.999 | 64    | 0.080 | healthy            | unverified: hidden by the default filters        |
 * | 1006  | 505  | RTX 3090  | 0.992 | 16    | 0.110 | gpu_fallen_off     | nvidia-smi: GPU has fallen off the bus           |
 * | 1007  | 506  | RTX A4000 | 0.996 | 32    | 0.120 | nvml_mismatch      | NVML driver/library version mismatch             |
 * | 1008  | 511  | RTX 3090  | 0.993 | 16    | 0.130 | hangs              | engine starts, then no progress                  |
 * | 1009  | 507  | RTX 3090  | 0.997 | 24    | 0.140 | healthy            | first good host                                  |
 * | 1010  | 502  | RTX 3060  | 0.990 | 20    | 0.150 | ssh_never          | a second offer on host 502: host blacklisting    |
 * | 1011  | 508  | RTX 4090  | 0.998 | 40    | 0.160 | dies_while_serving | ready, then the engine dies                      |
 * | 1012  | 509  | RTX 4090  | 0.995 | 40    | 0.180 | slow_warmup        | healthy but slow to load: patience, not failure  |
 * | 1013  | 510  | RTX A5000 | 0.999 | 48    | 0.220 | healthy            | good, dearer                                     |
 * | 1014  | 512  | RTX 4090  | 0.999 | 64    | 0.350 | healthy            | good, dearest                                    |
 */
export const DEFAULT_SCENARIO: Scenario = ScenarioSchema.parse({
  name: 'default',
  description: 'Mixed-quality fleet for TinyLlama: cheap bad hosts first, healthy ones behind them.',
  offers: [
    { id: 1001, host_id: 501, machine_id: 9001, gpu_name: 'RTX 3070', gpu_ram: 8192, reliability2: 0.97, dph_total: 0.05, direct_port_count: 24, geolocation: 'Ohio, US' },
    { id: 1002, host_id: 502, machine_id: 9002, gpu_name: 'RTX 3060', gpu_ram: 12288, reliability2: 0.99, dph_total: 0.06, direct_port_count: 20, profile: 'ssh_never', geolocation: 'Quebec, CA' },
    { id: 1003, host_id: 503, machine_id: 9003, gpu_name: 'RTX 3060', gpu_ram: 12288, reliability2: 0.985, dph_total: 0.065, direct_port_count: 12, profile: 'container_fail' },
    { id: 1004, host_id: 504, machine_id: 9004, gpu_name: 'RTX 3080', gpu_ram: 10240, reliability2: 0.99, dph_total: 0.07, direct_port_count: 4, geolocation: 'Bavaria, DE' },
    { id: 1005, host_id: 513, machine_id: 9013, gpu_name: 'RTX A6000', gpu_ram: 49140, reliability2: 0.999, dph_total: 0.08, direct_port_count: 64, verified: false },
    { id: 1006, host_id: 505, machine_id: 9005, gpu_name: 'RTX 3090', gpu_ram: 24576, reliability2: 0.992, dph_total: 0.11, direct_port_count: 16, profile: 'gpu_fallen_off', driver_version: '535.54.03', cuda_max_good: 12.2 },
    { id: 1007, host_id: 506, machine_id: 9006, gpu_name: 'RTX A4000', gpu_ram: 16376, reliability2: 0.996, dph_total: 0.12, direct_port_count: 32, profile: 'nvml_mismatch', driver_version: '545.23.08', cuda_max_good: 12.3 },
    { id: 1008, host_id: 511, machine_id: 9011, gpu_name: 'RTX 3090', gpu_ram: 24576, reliability2: 0.993, dph_total: 0.13, direct_port_count: 16, profile: 'hangs', geolocation: 'Oregon, US' },
    { id: 1009, host_id: 507, machine_id: 9007, gpu_name: 'RTX 3090', gpu_ram: 24576, reliability2: 0.997, dph_total: 0.14, direct_port_count: 24, geolocation: 'Oregon, US' },
    { id: 1010, host_id: 502, machine_id: 9002, gpu_name: 'RTX 3060', gpu_ram: 12288, reliability2: 0.99, dph_total: 0.15, direct_port_count: 20, profile: 'ssh_never', geolocation: 'Quebec, CA' },
    { id: 1011, host_id: 508, machine_id: 9008, gpu_name: 'RTX 4090', gpu_ram: 24564, reliability2: 0.998, dph_total: 0.16, direct_port_count: 40, profile: 'dies_while_serving' },
    { id: 1012, host_id: 509, machine_id: 9009, gpu_name: 'RTX 4090', gpu_ram: 24564, reliability2: 0.995, dph_total: 0.18, direct_port_count: 40, profile: 'slow_warmup', geolocation: 'Nevada, US' },
    { id: 1013, host_id: 510, machine_id: 9010, gpu_name: 'RTX A5000', gpu_ram: 24564, reliability2: 0.999, dph_total: 0.22, direct_port_count: 48, geolocation: 'Ontario, CA' },
    { id: 1014, host_id: 512, machine_id: 9012, gpu_name: 'RTX 4090', gpu_ram: 24564, reliability2: 0.999, dph_total: 0.35, direct_port_count: 64, geolocation: 'Texas, US' },
  ] satisfies ScenarioOfferInput[],
});
