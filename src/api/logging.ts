/**
 * The API's logger: a child of the injected one that keeps credentials out of logs. Redaction is
 * done with serializers, not pino's `redact` option, because a child's `redact` *replaces* the
 * parent's paths (pino 10), which would silently drop the caller's own redaction for API logs;
 * serializers merge with the parent's.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';

/** Placed where a credential was. */
export const REDACTED = '[redacted]';

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'] as const;

/** A copy of `headers` with credential-bearing headers censored. */
export function redactHeaders(headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null) return headers;
  const copy: Record<string, unknown> = { ...(headers as Record<string, unknown>) };
  for (const name of SECRET_HEADERS) {
    if (copy[name] !== undefined) copy[name] = REDACTED;
  }
  return copy;
}

interface RequestLike {
  method?: string;
  url?: string;
  headers?: IncomingHttpHeaders;
  ip?: string;
}

/** A request as logged: method, url, client address, and headers with credentials censored. */
function safeRequest(req: unknown): unknown {
  if (typeof req !== 'object' || req === null) return req;
  const r = req as RequestLike;
  return { method: r.method, url: r.url, remoteAddress: r.ip, headers: redactHeaders(r.headers) };
}

/** The child logger fastify uses: `component: api`, credentials censored in `req`, `headers`, `authorization`. */
export function apiLogger(logger: Logger): FastifyBaseLogger {
  return logger.child(
    { component: 'api' },
    {
      serializers: {
        req: safeRequest,
        headers: redactHeaders,
        authorization: () => REDACTED,
      },
    },
  );
}
