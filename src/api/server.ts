/**
 * Assembles the HTTP front door: one fastify instance with the correlation id, metrics and auth
 * hooks, the one error handler, and the route groups as plugins. Auth wraps every group except the
 * probes, so `/healthz` and `/readyz` stay open while unknown routes answer 404 without a token.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction } from 'fastify';
import { bearerAuth } from './auth.js';
import { CORRELATION_HEADER, correlationIdOf } from './correlation.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { apiLogger } from './logging.js';
import { httpObserver } from './observe.js';
import { metaRoutes } from './routes/meta.js';
import { metricsRoutes, probeRoutes } from './routes/ops.js';
import { poolRoutes } from './routes/pools.js';
import { TASK_BODY_LIMIT, taskRoutes } from './routes/tasks.js';
import { DEFAULT_HEARTBEAT_MS } from './sse.js';
import type { ApiOptions } from './types.js';

function echoCorrelationId(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  reply.header(CORRELATION_HEADER, request.id);
  done();
}

/** Builds the native /v2 API (not listening: the caller runs `app.listen`). */
export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { gateway, registry, apiToken } = opts;
  if (apiToken !== undefined && apiToken.length === 0) throw new Error('apiToken must not be empty; omit it to disable auth');

  const app = Fastify({
    loggerInstance: apiLogger(opts.logger),
    genReqId: correlationIdOf,
    requestIdHeader: false,
    // Per-request lines are our own (debug level, in observe.ts): this is a hot path.
    logController: new LogController({ requestIdLogLabel: 'correlation_id', disableRequestLogging: true }),
    bodyLimit: TASK_BODY_LIMIT,
    frameworkErrors: (err, request, reply) => errorHandler(err, request, reply),
  });

  app.addHook('onRequest', echoCorrelationId);
  app.addHook('onRequest', httpObserver(registry));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  await app.register(probeRoutes, { gateway });
  await app.register(async (secured) => {
    if (apiToken !== undefined) secured.addHook('onRequest', bearerAuth(apiToken));
    await secured.register(taskRoutes, {
      gateway,
      newId: opts.newId ?? randomUUID,
      heartbeatMs: opts.sseHeartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    });
    await secured.register(poolRoutes, { gateway });
    await secured.register(metaRoutes, { gateway });
    await secured.register(metricsRoutes, { registry });
  });
  return app;
}
