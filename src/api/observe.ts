/**
 * Per-request observation: the HTTP metrics and the debug-level access log. Both hang off the
 * response's `close` event, which fires for every response (normal, hijacked SSE streams and client
 * disconnects alike), so a streamed request is counted exactly once, when it really ends.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** Route label for requests that matched no route (keeps cardinality bounded). */
export const UNMATCHED_ROUTE = 'unmatched';
/** Status label for requests the client abandoned before any status was sent (nginx's 499). */
export const CLIENT_CLOSED_STATUS = 499;

const REQUESTS = 'drover_http_requests_total';
const DURATION = 'drover_http_request_duration_seconds';

function counterOn(registry: Registry): Counter<'method' | 'route' | 'status'> {
  const existing = registry.getSingleMetric(REQUESTS);
  if (existing instanceof Counter) return existing as Counter<'method' | 'route' | 'status'>;
  return new Counter({
    name: REQUESTS,
    help: 'HTTP requests by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
}

function histogramOn(registry: Registry): Histogram<'method' | 'route'> {
  const existing = registry.getSingleMetric(DURATION);
  if (existing instanceof Histogram) return existing as Histogram<'method' | 'route'>;
  return new Histogram({
    name: DURATION,
    help: 'HTTP request duration by method and route pattern (SSE: until the stream ends).',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
}

/** Route pattern of a request, or `unmatched`. */
export function routeLabel(request: FastifyRequest): string {
  return request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
}

/**
 * An `onRequest` hook that registers the HTTP metrics on `registry` (reusing them when another API
 * instance already did) and observes each request when its response closes.
 */
export function httpObserver(
  registry: Registry,
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const requests = counterOn(registry);
  const duration = histogramOn(registry);
  return (request, reply, done) => {
    const start = performance.now();
    const res = reply.raw;
    res.once('close', () => {
      const seconds = (performance.now() - start) / 1000;
      const route = routeLabel(request);
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS;
      requests.inc({ method: request.method, route, status });
      duration.observe({ method: request.method, route }, seconds);
      request.log.debug({ method: request.method, route, status, ms: Math.round(seconds * 1000) }, 'request completed');
    });
    done();
  };
}
