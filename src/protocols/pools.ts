/**
 * Pools and replicas. A pool serves one model with one engine kind; each replica is one engine
 * endpoint (a static URL now, a rented host later). PoolActors publish `PoolStatus` on
 * `drover.pools.<id>.status`; placement merges it with the slots it owns into `PoolView`.
 */
import { z } from 'zod';
import { EngineKindSchema } from './tasks.js';

export const ReplicaHealthSchema = z.enum(['unknown', 'ready', 'unready', 'draining']);
export type ReplicaHealth = z.infer<typeof ReplicaHealthSchema>;

/** Load read from the engine's /metrics (vLLM names). */
export const EngineLoadSchema = z.object({
  running: z.number().nonnegative(),
  waiting: z.number().nonnegative(),
  kv_usage: z.number().min(0).max(1),
});
export type EngineLoad = z.infer<typeof EngineLoadSchema>;

/** One replica as its PoolActor sees it. */
export const ReplicaStatusSchema = z.object({
  replica_id: z.string(),
  pool_id: z.string(),
  url: z.string(),
  engine: EngineKindSchema,
  model: z.string(),
  health: ReplicaHealthSchema,
  /** Concurrent tasks Drover may run on this replica. */
  slots_total: z.number().int().positive(),
  ctx_max: z.number().int().positive().optional(),
  vram_total_mb: z.number().nonnegative().optional(),
  vram_free_mb: z.number().nonnegative().optional(),
  load: EngineLoadSchema.optional(),
  last_error: z.string().optional(),
  last_checked_at: z.number().optional(),
});
export type ReplicaStatus = z.infer<typeof ReplicaStatusSchema>;

export const PoolStatusSchema = z.object({
  pool_id: z.string(),
  model: z.string(),
  engine: EngineKindSchema,
  desired: z.number().int().nonnegative(),
  state: z.enum(['starting', 'ready', 'degraded', 'failed', 'draining']),
  reason: z.string().optional(),
  replicas: z.array(ReplicaStatusSchema),
  at: z.number(),
});
export type PoolStatus = z.infer<typeof PoolStatusSchema>;

/** GET /v2/pools item: pool status plus the slots placement has handed out. */
export const ReplicaViewSchema = ReplicaStatusSchema.extend({
  slots_busy: z.number().int().nonnegative(),
  slots_free: z.number().int().nonnegative(),
});
export type ReplicaView = z.infer<typeof ReplicaViewSchema>;

export const PoolViewSchema = PoolStatusSchema.omit({ replicas: true }).extend({
  ready: z.number().int().nonnegative(),
  slots_total: z.number().int().nonnegative(),
  slots_busy: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
  replicas: z.array(ReplicaViewSchema),
});
export type PoolView = z.infer<typeof PoolViewSchema>;

/** GET /v2/pools/:id/health (llama-orch PoolHealth + last error cause). */
export const PoolHealthSchema = z.object({
  pool_id: z.string(),
  live: z.boolean(),
  ready: z.boolean(),
  draining: z.boolean(),
  last_error: z.string().optional(),
  metrics: z.object({
    replicas_ready: z.number().int(),
    replicas_total: z.number().int(),
    slots_total: z.number().int(),
    slots_busy: z.number().int(),
    queued: z.number().int(),
  }),
});
export type PoolHealth = z.infer<typeof PoolHealthSchema>;

/** Request on `drover.pools.query`: all pools, or one. */
export const PoolQuerySchema = z.object({ pool_id: z.string().optional() });
export const PoolQueryReplySchema = z.object({ pools: z.array(PoolViewSchema) });
export type PoolQueryReply = z.infer<typeof PoolQueryReplySchema>;
