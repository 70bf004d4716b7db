/**
 * Messages between the scheduler's actors in one process: placement hands a task to the task
 * supervisor (`TaskDispatch`) and every TaskActor reports exactly one `TaskOutcome` back, on
 * every exit path, so the slot it held is released.
 */
import { z } from 'zod';
import { ErrorEnvelopeSchema } from './errors.js';
import { ReplicaStatusSchema } from './pools.js';
import { TaskSpecSchema } from './tasks.js';

/** One attempt of one task on one replica. */
export const TaskDispatchSchema = z.object({
  spec: TaskSpecSchema,
  correlation_id: z.string(),
  replica: ReplicaStatusSchema,
  /** 1 for the first attempt; retries before the first token increment it. */
  attempt: z.number().int().positive(),
  /** Only the first attempt publishes `started`. */
  publish_started: z.boolean(),
  queue_position: z.number().int().nonnegative(),
  predicted_start_ms: z.number().nonnegative(),
  admitted_at: z.number(),
});
export type TaskDispatch = z.infer<typeof TaskDispatchSchema>;

/** How an attempt ended. The TaskActor has already published the events named in each comment. */
export const TaskOutcomeSchema = z.discriminatedUnion('kind', [
  /** `end` published. */
  z.object({
    kind: z.literal('completed'),
    tokens_out: z.number().int().nonnegative(),
    decode_ms: z.number().nonnegative(),
    first_token_at: z.number().optional(),
    finish_reason: z.string().optional(),
  }),
  /** `end {canceled:true}` published. */
  z.object({ kind: z.literal('canceled'), tokens_out: z.number().int().nonnegative(), first_token_at: z.number().optional() }),
  /** `error` published (failure after the first token, or a non-retriable failure). */
  z.object({
    kind: z.literal('failed'),
    error: ErrorEnvelopeSchema,
    tokens_out: z.number().int().nonnegative(),
    first_token_at: z.number().optional(),
  }),
  /** Nothing terminal published: the engine failed before the first token; placement may retry. */
  z.object({ kind: z.literal('retry'), error: ErrorEnvelopeSchema }),
  /** The TaskActor crashed; nothing terminal published. */
  z.object({ kind: z.literal('crashed'), message: z.string() }),
]);
export type TaskOutcome = z.infer<typeof TaskOutcomeSchema>;
