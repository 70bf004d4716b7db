/**
 * Correlation ids: the one place that decides which id a request carries. Fastify's `genReqId`
 * calls `correlationIdOf`, so `request.id` *is* the correlation id, the request's child logger binds
 * it as `correlation_id`, and every response, envelope and SSE stream echoes it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Request and response header that carries the correlation id. */
export const CORRELATION_HEADER = 'x-correlation-id';

/** Printable ASCII (space to tilde), 1 to 128 characters. */
const VALID_ID = /^[\x20-\x7e]{1,128}$/;

/** The caller's `X-Correlation-Id` when it is printable ASCII of at most 128 chars, else a fresh UUIDv4. */
export function correlationIdOf(req: IncomingMessage): string {
  const given = req.headers[CORRELATION_HEADER];
  return typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID();
}
