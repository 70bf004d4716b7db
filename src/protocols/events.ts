/**
 * Task events (llama-orch SSE, seed-projects §A5). Published on `drover.tasks.<id>.events` and kept
 * in the `DROVER_EVENTS` stream, so late clients and `Last-Event-ID` resumes read the stream. Order:
 * `started → token* → end`, `metrics` interleaved, or `error`; nothing follows `end` or `error`.
 * An event's SSE id is its {@link positionOf position}, which every copy of the task's events
 * agrees on (the stream, and the memory of the process that runs the task).
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

/** The tokens of a `token` event, single or batched. */
export function tokensOf(data: z.infer<typeof TokenEventSchema>['data']): readonly Token[] {
  return 'batch' in data ? data.batch : [data];
}

export function isTerminalEvent(e: TaskEvent): boolean {
  return e.type === 'end' || e.type === 'error';
}

/** The position of a terminal event: after everything else of its task. */
export const END_POSITION = Number.MAX_SAFE_INTEGER;

/** The position of token `i`: `started` is 0, so tokens count from 1. */
export function tokenPosition(token: Token): number {
  return token.i + 1;
}

/**
 * Where `e` sits in its task's events, from its content alone: `started` 0, token `i` at i + 1 (a
 * batch at its last token), `end`/`error` at {@link END_POSITION}. Token indexes are unique per
 * task (a task is retried only before its first token), so positions only grow. `metrics` has none.
 */
export function positionOf(e: TaskEvent): number | undefined {
  switch (e.type) {
    case 'started':
      return 0;
    case 'token': {
      const tokens = tokensOf(e.data);
      return tokenPosition(tokens[tokens.length - 1]!);
    }
    case 'metrics':
      return undefined;
    case 'end':
    case 'error':
      return END_POSITION;
  }
}

/**
 * What of `e` comes after `position`: the event itself, a batch cut to its later tokens, or
 * undefined when the reader has all of it. `metrics` events have no position and always pass.
 */
export function eventAfter(e: TaskEvent, position: number): TaskEvent | undefined {
  const at = positionOf(e);
  if (at === undefined || at > position) {
    if (e.type !== 'token' || !('batch' in e.data) || tokenPosition(e.data.batch[0]!) > position) return e;
    return { ...e, data: { batch: e.data.batch.filter((t) => tokenPosition(t) > position) } };
  }
  return undefined;
}
