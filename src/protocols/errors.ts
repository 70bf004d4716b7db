/**
 * The one error registry. Every error that crosses a boundary (HTTP response, SSE `error` event,
 * NATS reply) carries one of these codes; the HTTP status, retriability and documentation all come
 * from here. A test checks that every code is in the README's error table.
 */
import { z } from 'zod';

/** Stable error codes: the API codes of DESIGN §8 plus the internal ones Drover emits. */
export const ERROR_CODES = {
  INVALID_PARAMS: { status: 400, retriable: false, doc: 'The request is malformed: bad JSON, wrong types, out-of-range values.' },
  DEADLINE_UNMET: { status: 400, retriable: false, doc: 'The task cannot start before its deadline (or the deadline is not positive).' },
  UNAUTHORIZED: { status: 401, retriable: false, doc: 'Missing or wrong bearer token.' },
  NOT_FOUND: { status: 404, retriable: false, doc: 'No such task, pool or route.' },
  TASK_EXISTS: { status: 409, retriable: false, doc: 'A task with this task_id was already admitted.' },
  ADMISSION_REJECT: { status: 429, retriable: true, doc: 'The admission queue is full (policy `reject`); retry after the given backoff.' },
  QUEUE_FULL_DROP_LRU: { status: 429, retriable: true, doc: 'The queue is full (policy `drop-lru`): the new task was refused, or a queued batch task was evicted to admit newer work.' },
  POOL_UNAVAILABLE: { status: 503, retriable: true, doc: 'No pool serves this model, or nothing could ever fit the task.' },
  POOL_UNREADY: { status: 503, retriable: true, doc: 'The pinned pool exists but has no ready replica.' },
  WORKER_RESET: { status: 502, retriable: true, doc: 'The engine failed mid-stream, or Drover restarted while the task was streaming.' },
  REPLICA_EXHAUSTED: { status: 503, retriable: true, doc: 'The engine failed before the first token on every replica tried.' },
  DECODE_TIMEOUT: { status: 504, retriable: true, doc: 'The engine stopped sending tokens for longer than the idle timeout.' },
  INTERNAL: { status: 500, retriable: false, doc: 'A defect in Drover; the task ended and its slot was released.' },
} as const satisfies Record<string, { status: number; retriable: boolean; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ErrorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/** The error envelope of DESIGN §8 (llama-orch ErrorEnvelope + correlation id). */
export const ErrorEnvelopeSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  retriable: z.boolean(),
  retry_after_ms: z.number().int().nonnegative().optional(),
  policy_label: z.string().optional(),
  correlation_id: z.string().optional(),
  engine: z.string().optional(),
  pool_id: z.string().optional(),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** HTTP status for a code. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/**
 * A typed, expected failure. Thrown at boundaries (HTTP handlers, request/reply handlers) and
 * turned into an envelope by the one error handler of each surface.
 */
export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly policyLabel: string | undefined;
  readonly extra: { engine?: string; pool_id?: string };

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; retryAfterMs?: number; policyLabel?: string; engine?: string; poolId?: string } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DroverError';
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.policyLabel = opts.policyLabel;
    this.extra = {
      ...(opts.engine === undefined ? {} : { engine: opts.engine }),
      ...(opts.poolId === undefined ? {} : { pool_id: opts.poolId }),
    };
  }

  get status(): number {
    return statusOf(this.code);
  }

  get retriable(): boolean {
    return ERROR_CODES[this.code].retriable;
  }

  toEnvelope(correlationId?: string): ErrorEnvelope {
    return makeEnvelope(this.code, this.message, {
      ...(this.retryAfterMs === undefined ? {} : { retry_after_ms: this.retryAfterMs }),
      ...(this.policyLabel === undefined ? {} : { policy_label: this.policyLabel }),
      ...(correlationId === undefined ? {} : { correlation_id: correlationId }),
      ...this.extra,
    });
  }

  static fromEnvelope(env: ErrorEnvelope): DroverError {
    return new DroverError(env.code, env.message, {
      ...(env.retry_after_ms === undefined ? {} : { retryAfterMs: env.retry_after_ms }),
      ...(env.policy_label === undefined ? {} : { policyLabel: env.policy_label }),
      ...(env.engine === undefined ? {} : { engine: env.engine }),
      ...(env.pool_id === undefined ? {} : { poolId: env.pool_id }),
    });
  }
}

/** Builds an envelope with the registry's retriability. */
export function makeEnvelope(
  code: ErrorCode,
  message: string,
  extra: Partial<Omit<ErrorEnvelope, 'code' | 'message' | 'retriable'>> = {},
): ErrorEnvelope {
  return { code, message, retriable: ERROR_CODES[code].retriable, ...extra };
}

/** Any thrown value as an envelope: DroverErrors keep their code, everything else is INTERNAL. */
export function toEnvelope(err: unknown, correlationId?: string): ErrorEnvelope {
  if (err instanceof DroverError) return err.toEnvelope(correlationId);
  const message = err instanceof Error ? err.message : String(err);
  return makeEnvelope('INTERNAL', message, correlationId === undefined ? {} : { correlation_id: correlationId });
}

/** Formats a zod error as one human line for INVALID_PARAMS messages. */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}
