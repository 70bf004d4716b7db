/**
 * Drover's configuration: a zod-validated file (`--config drover.yaml`, YAML or JSON) merged with
 * environment variables and CLI flags. Everything has a default, so `drover up` with nothing
 * runs the embedded setup: a spawned nats-server, the HTTP API on 127.0.0.1:8080 and two
 * simulated vLLM engines serving TinyLlama as one pool.
 */
import { z } from 'zod';
import { EngineKindSchema } from './tasks.js';
import { LaunchSpecSchema, StrictnessSchema } from './offers.js';
import { READINESS_STAGES } from './hosts.js';

export const DEFAULT_MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';

export const StaticReplicaSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/).optional(),
  url: z.string().url(),
});

export const StaticPoolSchema = z.object({
  kind: z.literal('static').default('static'),
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'pool ids are letters, digits, "_" and "-"'),
  model: z.string().min(1),
  engine: EngineKindSchema.default('vllm'),
  /** Concurrent tasks per replica that Drover dispatches (the engine may batch more). */
  slots_per_replica: z.number().int().positive().max(4096).default(8),
  ctx_max: z.number().int().positive().optional(),
  replicas: z.array(StaticReplicaSchema).default([]),
  /** How often each replica's /health, /v1/models and /metrics are read. */
  health_interval_ms: z.number().int().positive().default(2_000),
  /** Consecutive failed checks before a ready replica is marked unready. */
  unready_after_failures: z.number().int().positive().default(2),
});
export type StaticPoolConfig = z.infer<typeof StaticPoolSchema>;

/** Per-stage readiness deadlines (ms): a stage with no progress past its deadline fails. */
export const StageDeadlinesSchema = z
  .object(Object.fromEntries(READINESS_STAGES.map((s) => [s, z.number().int().positive().optional()])) as Record<(typeof READINESS_STAGES)[number], z.ZodOptional<z.ZodNumber>>)
  .default({});

/** A pool of rented (or owned, via the fleet file) hosts that Drover provisions and heals. */
export const FleetPoolSchema = z.object({
  kind: z.literal('fleet'),
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'pool ids are letters, digits, "_" and "-"'),
  model: z.string().min(1),
  engine: EngineKindSchema.default('vllm'),
  /** Desired ready replicas. */
  replicas: z.number().int().nonnegative().max(1000).default(1),
  slots_per_replica: z.number().int().positive().max(4096).default(8),
  ctx_max: z.number().int().positive().optional(),
  offer: z
    .object({
      gpu_names: z.array(z.string()).optional(),
      min_gpu_ram_mb: z.number().nonnegative().default(8_000),
      num_gpus: z.number().int().positive().default(1),
      max_dph: z.number().positive().optional(),
    })
    .default({ min_gpu_ram_mb: 8_000, num_gpus: 1 }),
  launch: LaunchSpecSchema.default(LaunchSpecSchema.parse({})),
  /** WORKLOAD_FATAL failures allowed within `within_ms` before the pool is `failed`. */
  failure_budget: z
    .object({ max_failures: z.number().int().nonnegative().default(2), within_ms: z.number().int().positive().default(3_600_000) })
    .default({ max_failures: 2, within_ms: 3_600_000 }),
  stage_deadlines_ms: StageDeadlinesSchema,
});
export type FleetPoolConfig = z.infer<typeof FleetPoolSchema>;

/** Fleet-wide settings: provider credentials, strictness, probing cadence. */
export const FleetSettingsSchema = z
  .object({
    strictness: StrictnessSchema.default('strict'),
    /** Vast.ai REST API (VAST_API_URL points it at the simulator in tests). */
    vast_api_url: z.string().url().default('https://console.vast.ai'),
    vast_api_key: z.string().min(1).optional(),
    vast_ssh_key_path: z.string().optional(),
    /** Hosts you own, reached over SSH (YAML/JSON list). */
    fleet_file: z.string().optional(),
    /** How often a HostActor probes while it is not ready, and scrapes when ready. */
    probe_interval_ms: z.number().int().positive().default(2_000),
    /** How often a ready host whose engine is idle is checked (default 5 × probe_interval_ms). */
    idle_check_interval_ms: z.number().int().positive().optional(),
    stage_deadlines_ms: StageDeadlinesSchema,
    /** Simulated marketplace scenario (used when no credentials and no fleet file). */
    sim_scenario: z.string().optional(),
    /** Multiplier on simulated host durations. */
    sim_time_scale: z.number().positive().default(0.05),
  })
  .default({ strictness: 'strict', vast_api_url: 'https://console.vast.ai', probe_interval_ms: 2_000, stage_deadlines_ms: {}, sim_time_scale: 0.05 });
export type FleetSettings = z.infer<typeof FleetSettingsSchema>;

export const SimEnginesSchema = z.object({
  /** Number of simulated vLLM engines started in-process; they form the pool `sim`. */
  engines: z.number().int().nonnegative().max(64).default(2),
  model: z.string().default(DEFAULT_MODEL),
  ttft_ms: z.number().nonnegative().default(80),
  tokens_per_s: z.number().nonnegative().default(50),
  max_num_seqs: z.number().int().positive().default(16),
});
export type SimEnginesConfig = z.infer<typeof SimEnginesSchema>;

export const AdmissionPolicySchema = z.enum(['reject', 'drop-lru']);
export type AdmissionPolicyName = z.infer<typeof AdmissionPolicySchema>;

export const DroverConfigSchema = z.object({
  node_id: z.string().regex(/^[A-Za-z0-9_-]+$/).optional(),
  data_dir: z.string().default('.drover'),
  http: z
    .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) })
    .default({ host: '127.0.0.1', port: 8080 }),
  nats: z
    .object({
      /** Join an existing NATS cluster; without it Drover spawns nats-server itself. */
      url: z.string().optional(),
      /** Config of the embedded nats-server; null runs it on flags alone. */
      config_file: z.string().nullable().default('nats.conf'),
      /** Port override for the embedded server; -1 picks a free one. */
      port: z.number().int().min(-1).max(65535).optional(),
    })
    .default({ config_file: 'nats.conf' }),
  api_token: z.string().min(1).optional(),
  admission: z
    .object({
      capacity: z.number().int().positive().default(1024),
      policy: AdmissionPolicySchema.default('reject'),
    })
    .default({ capacity: 1024, policy: 'reject' }),
  tasks: z
    .object({
      /** Attempts per task when the engine fails before the first token. */
      max_attempts: z.number().int().positive().max(10).default(3),
      /** A stream with no token for this long ends with DECODE_TIMEOUT. */
      idle_timeout_ms: z.number().int().positive().default(60_000),
      /** How long task records stay in KV. */
      record_ttl_ms: z.number().int().positive().default(86_400_000),
    })
    .default({ max_attempts: 3, idle_timeout_ms: 60_000, record_ttl_ms: 86_400_000 }),
  events: z
    .object({ max_age_ms: z.number().int().positive().default(3_600_000) })
    .default({ max_age_ms: 3_600_000 }),
  /**
   * Default: one fleet pool of two TinyLlama replicas; with no credentials and no fleet file it
   * rents from the simulated marketplace.
   */
  pools: z
    .array(z.union([FleetPoolSchema, StaticPoolSchema]))
    .default(() => [FleetPoolSchema.parse({ kind: 'fleet', id: 'default', model: DEFAULT_MODEL, replicas: 2 })]),
  fleet: FleetSettingsSchema,
  /** Simulated engines run in-process as the static pool `sim` (no hosts, no SSH); off by default. */
  sim: SimEnginesSchema.nullable().default(null),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Longest orderly stop after SIGINT/SIGTERM; past it the process exits anyway (code 1). A stop
   * waits on NATS (the connection's drain, acknowledged writes), which never ends while the
   * server is unreachable.
   */
  shutdown_timeout_ms: z.number().int().positive().default(10_000),
});
export type DroverConfig = z.infer<typeof DroverConfigSchema>;
export type DroverConfigInput = z.input<typeof DroverConfigSchema>;
