/**
 * The HTTP error mapping, the only place that turns a failure into a status, headers and an
 * envelope (protocols/errors.ts). DroverErrors keep their code; fastify's own client errors (bad
 * JSON, unsupported content type, body too large, bad URL) become INVALID_PARAMS; anything else is a
 * defect: INTERNAL 500, logged once at error, with a generic message so no internals leak.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DroverError, type ErrorEnvelope } from '../protocols/index.js';
import { CORRELATION_HEADER } from './correlation.js';

/** Backoff used for 429s whose error carries no `retry_after_ms`. */
export const DEFAULT_BACKOFF_MS = 1000;

const POLICY_LABELS: Partial<Record<DroverError['code'], string>> = {
  ADMISSION_REJECT: 'reject',
  QUEUE_FULL_DROP_LRU: 'drop-lru',
};

/** What to send for a failure, and whether it is a defect to log at error. */
export interface ClassifiedError {
  /** The error as it goes on the wire. */
  error: DroverError;
  /** True for defects (INTERNAL), which are logged with their stack. */
  defect: boolean;
}

function clientStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('statusCode' in err)) return undefined;
  const status = err.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** Maps anything thrown to the DroverError that is sent, filling 429 backoff and policy defaults. */
export function classify(err: unknown): ClassifiedError {
  if (err instanceof DroverError) {
    const label = POLICY_LABELS[err.code];
    if (label === undefined) return { error: err, defect: false };
    if (err.retryAfterMs !== undefined && err.policyLabel !== undefined) return { error: err, defect: false };
    const filled = new DroverError(err.code, err.message, {
      cause: err,
      retryAfterMs: err.retryAfterMs ?? DEFAULT_BACKOFF_MS,
      policyLabel: err.policyLabel ?? label,
      engine: err.extra.engine,
      poolId: err.extra.pool_id,
    });
    return { error: filled, defect: false };
  }
  if (clientStatusOf(err) !== undefined) {
    const message = err instanceof Error ? err.message : 'bad request';
    return { error: new DroverError('INVALID_PARAMS', message, { cause: err }), defect: false };
  }
  return { error: new DroverError('INTERNAL', 'internal error', { cause: err }), defect: true };
}

/** Logs a classified failure once: defects at error with the original error, the rest at debug. */
export function logFailure(request: FastifyRequest, raw: unknown, c: ClassifiedError): void {
  if (c.defect) request.log.error({ err: raw }, 'unhandled error');
  else if (c.error.status >= 500) request.log.warn({ code: c.error.code, detail: c.error.message }, 'request failed');
  else request.log.debug({ code: c.error.code }, 'request rejected');
}

/** The envelope for an SSE `error` event (the stream is open, so no status or headers). */
export function streamErrorEnvelope(request: FastifyRequest, raw: unknown): ErrorEnvelope {
  const c = classify(raw);
  logFailure(request, raw, c);
  return c.error.toEnvelope(request.id);
}

/** Sends a DroverError as status + envelope, with the 429 / 401 headers. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: DroverError): FastifyReply {
  reply.header(CORRELATION_HEADER, request.id);
  if (error.retryAfterMs !== undefined && (error.status === 429 || error.status === 503)) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
    reply.header('x-backoff-ms', String(error.retryAfterMs));
  }
  if (error.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer');
  return reply.code(error.status).type('application/json; charset=utf-8').send(error.toEnvelope(request.id));
}

/** The one error handler (fastify `setErrorHandler`). */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const c = classify(err);
  logFailure(request, err, c);
  return sendError(request, reply, c.error);
}

/** Unknown routes: NOT_FOUND envelope. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?', 1)[0] ?? '';
  return sendError(request, reply, new DroverError('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}`));
}
