/**
 * Task events (llama-orch SSE, seed-projects §A5). Published on `drover.tasks.<id>.events`, kept in
 * the `DROVER_EVENTS` stream; the stream sequence number is the SSE `id:` so `Last-Event-ID` resume
 * and late clients both read the stream. Order: `started → token* → end`, `metrics` interleaved, or
 * `error`; nothing follows `end` or `error`.
 */
import { z } from 'zod';
import { ErrorEnvelopeSchema } from './errors.js';

export const StartedEventSchema = z.object({
  type: z.literal('started'),
  task_id: z.string(),
  data: z.object({
    queue_position: z.number().int().nonnegative(),
    predicted_start_ms: z.number().nonnegative(),
    pool_id: z.string().optional(),
    replica_id: z.string().optional(),
  }),
});

/** One token: its text and its 0-based index in the task's output. */
export const TokenSchema = z.object({ t: z.string(), i: z.number().int().nonnegative() });
export type Token = z.infer<typeof TokenSchema>;

/** Most tokens one `token {batch}` event carries (the relay flushes a full batch at once). */
export const MAX_TOKEN_BATCH = 256;

/**
 * `token {t, i}`, or `token {batch: [{t, i}, …]}`: the tokens that reached the relay together
 * (seed-projects §A5 token micro-batching). On the bus the relay coalesces whatever arrived within
 * one event-loop turn into one batch; SSE clients see one `token {t, i}` frame per token unless
 * they ask for `?batch=true`.
 */
export const TokenEventSchema = z.object({
  type: z.literal('token'),
  task_id: z.string(),
  data: z.union([TokenSchema, z.object({ batch: z.array(TokenSchema).min(1).max(MAX_TOKEN_BATCH) })]),
});

export const MetricsEventSchema = z.object({
  type: z.literal('metrics'),
  task_id: z.string(),
  data: z
    .object({
      queue_depth: z.number().optional(),
      kv_warmth: z.boolean().optional(),
      tokens_budget_remaining: z.number().optional(),
      time_budget_remaining_ms: z.number().optional(),
      human: z.string().optional(),
    })
    .catchall(z.unknown()),
});

export const EndEventSchema = z.object({
  type: z.literal('end'),
  task_id: z.string(),
  data: z.object({
    tokens_out: z.number().int().nonnegative(),
    decode_ms: z.number().nonnegative(),
    /** Canonical name (ORCH-3310); both are emitted while clients migrate. */
    decode_time_ms: z.number().nonnegative(),
    canceled: z.boolean().optional(),
    finish_reason: z.string().optional(),
  }),
});

export const ErrorEventSchema = z.object({
  type: z.literal('error'),
  task_id: z.string(),
  data: ErrorEnvelopeSchema,
});

export const TaskEventSchema = z.discriminatedUnion('type', [
  StartedEventSchema,
  TokenEventSchema,
  MetricsEventSchema,
  EndEventSchema,
  ErrorEventSchema,
]);
export type TaskEvent = z.infer<typeof TaskEventSchema>;
export type TaskEventType = TaskEvent['type'];

/** An event as read back from the stream: the stream sequence is its SSE id. */
export interface SequencedTaskEvent {
  seq: number;
  event: TaskEvent;
}

/** The tokens of a `token` event, single or batched. */
export function tokensOf(data: z.infer<typeof TokenEventSchema>['data']): readonly Token[] {
  return 'batch' in data ? data.batch : [data];
}

export function isTerminalEvent(e: TaskEvent): boolean {
  return e.type === 'end' || e.type === 'error';
}
