/**
 * Hosts: the GPU instances Drover rents or owns. The vocabulary of DESIGN §5 — lifecycle states,
 * readiness stages, failure classes, probe results — plus the durable records of DESIGN §6
 * (KV `drover_hosts`, `drover_blacklist`, `drover_reputation`) and the transition event published
 * on `drover.hosts.<id>.state`.
 */
import { z } from 'zod';
import { EngineKindSchema } from './tasks.js';

/** HostActor lifecycle (DESIGN §5). `failed` carries a FailureClass. */
export const HostStateSchema = z.enum(['requested', 'provisioning', 'booting', 'warming', 'ready', 'draining', 'terminated', 'failed']);
export type HostState = z.infer<typeof HostStateSchema>;

/** Failure classes (DESIGN §5, seed-projects §B). */
export const FailureClassSchema = z.enum(['INFRA_FATAL', 'WORKLOAD_INCOMPATIBLE', 'WORKLOAD_FATAL', 'WARMUP', 'UNKNOWN']);
export type FailureClass = z.infer<typeof FailureClassSchema>;

/**
 * Readiness stages in order; each has its own deadline so a dead host cannot burn paid minutes.
 * instance_running → ssh → executor (printf sanity) → gpu (nvidia-smi) → engine_process →
 * port_bound → model_listed (/v1/models) → generation (one 1-token request).
 */
export const READINESS_STAGES = [
  'instance_running',
  'ssh',
  'executor',
  'gpu',
  'engine_process',
  'port_bound',
  'model_listed',
  'generation',
] as const;
export const ReadinessStageSchema = z.enum(READINESS_STAGES);
export type ReadinessStage = z.infer<typeof ReadinessStageSchema>;

/**
 * One command run on a host over SSH. `transport_ok` false means the SSH layer failed (connect,
 * handshake, auth, keepalive, connection lost) — the command's own outcome is then unknown.
 */
export const ProbeResultSchema = z.object({
  name: z.string(),
  command: z.string(),
  ok: z.boolean(),
  transport_ok: z.boolean(),
  failure_kind: z.enum(['transport', 'command', 'timeout', 'signal']).optional(),
  exit_code: z.number().int().optional(),
  signal: z.string().optional(),
  stdout: z.string(),
  stderr: z.string(),
  error: z.string().optional(),
  duration_ms: z.number().nonnegative(),
});
export type ProbeResult = z.infer<typeof ProbeResultSchema>;

/** Why a host failed: the class, one line of reason, and the evidence that shows it. */
export const HostFailureSchema = z.object({
  class: FailureClassSchema,
  reason: z.string(),
  stage: ReadinessStageSchema.optional(),
  /** Log excerpt or command output (bounded) that supports the class. */
  evidence: z.string(),
});
export type HostFailure = z.infer<typeof HostFailureSchema>;

/** A transition as published on `drover.hosts.<id>.state` and kept (bounded) in the record. */
export const HostTransitionSchema = z.object({
  host_id: z.string(),
  pool_id: z.string(),
  from: HostStateSchema.optional(),
  to: HostStateSchema,
  at: z.number(),
  reason: z.string(),
  stage: ReadinessStageSchema.optional(),
  failure: HostFailureSchema.optional(),
});
export type HostTransition = z.infer<typeof HostTransitionSchema>;

/** How to reach a host over SSH. */
export const SshAddressSchema = z.object({ host: z.string(), port: z.number().int().positive(), user: z.string() });
export type SshAddress = z.infer<typeof SshAddressSchema>;

/** KV `drover_hosts`, key = host_id: everything needed to adopt or clean up the instance after a restart. */
export const HostRecordSchema = z.object({
  host_id: z.string(),
  pool_id: z.string(),
  owner: z.string(),
  provider: z.enum(['vast', 'static']),
  /** The provider's instance id (Vast `new_contract`), once created. */
  instance_id: z.string().optional(),
  /** The machine the instance runs on (Vast `host_id` + `machine_id`): what blacklists key on. */
  provider_host_id: z.string(),
  machine_id: z.string().optional(),
  offer_id: z.string().optional(),
  gpu_name: z.string().optional(),
  price_per_hour: z.number().nonnegative().optional(),
  engine: EngineKindSchema,
  model: z.string(),
  state: HostStateSchema,
  stage: ReadinessStageSchema.optional(),
  failure: HostFailureSchema.optional(),
  ssh: SshAddressSchema.optional(),
  engine_url: z.string().optional(),
  created_at: z.number(),
  ready_at: z.number().optional(),
  ended_at: z.number().optional(),
  updated_at: z.number(),
  /** Last transitions, newest last (bounded). */
  transitions: z.array(HostTransitionSchema).default([]),
});
export type HostRecord = z.infer<typeof HostRecordSchema>;

/** KV `drover_blacklist`, key = `<scope>.<provider_host_id>[.<workload>]`. */
export const BlacklistEntrySchema = z.object({
  provider_host_id: z.string(),
  /** global: never rent again; workload: not for this workload; operator: put there by hand. */
  scope: z.enum(['global', 'workload', 'operator']),
  workload: z.string().optional(),
  reason: z.string(),
  by: z.string(),
  at: z.number(),
  evidence: z.string().optional(),
});
export type BlacklistEntry = z.infer<typeof BlacklistEntrySchema>;

/** KV `drover_reputation`, key = provider_host_id. */
export const ReputationSchema = z.object({
  provider_host_id: z.string(),
  successes: z.number().nonnegative(),
  infra_failures: z.number().nonnegative(),
  workload_failures: z.number().nonnegative(),
  last_seen: z.number(),
  last_success_at: z.number().optional(),
  last_failure_at: z.number().optional(),
});
export type Reputation = z.infer<typeof ReputationSchema>;

/** A workload key for workload-scoped blacklists: engine + model. */
export function workloadKey(engine: string, model: string): string {
  return `${engine}:${model}`;
}
