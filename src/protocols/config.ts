/**
 * Drover's configuration: a zod-validated file (`--config drover.yaml`, YAML or JSON) merged with
 * environment variables and CLI flags. Everything has a default, so `drover up` with nothing
 * runs the embedded setup: a spawned nats-server, the HTTP API on 127.0.0.1:8080 and two
 * simulated vLLM engines serving TinyLlama as one pool.
 */
import { z } from 'zod';
import { EngineKindSchema } from './tasks.js';

export const DEFAULT_MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';

export const StaticReplicaSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/).optional(),
  url: z.string().url(),
});

export const StaticPoolSchema = z.object({
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
  pools: z.array(StaticPoolSchema).default([]),
  sim: SimEnginesSchema.nullable().default({ engines: 2, model: DEFAULT_MODEL, ttft_ms: 80, tokens_per_s: 50, max_num_seqs: 16 }),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type DroverConfig = z.infer<typeof DroverConfigSchema>;
export type DroverConfigInput = z.input<typeof DroverConfigSchema>;
