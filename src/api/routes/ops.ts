/**
 * Operational routes: liveness and readiness (open, for orchestrators' probes) and Prometheus
 * metrics (behind auth like the API).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { TaskGateway } from '../types.js';

/** Options of the probe routes plugin. */
export interface ProbeRoutesOptions {
  /** Asked for readiness. */
  gateway: TaskGateway;
}

/** Registers GET /healthz (always ok while the process serves) and GET /readyz (the gateway's view). */
export const probeRoutes: FastifyPluginAsync<ProbeRoutesOptions> = async (app, { gateway }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    let ready = false;
    try {
      ready = await gateway.ready();
    } catch (err) {
      request.log.warn({ err }, 'readiness check failed');
    }
    return ready ? { status: 'ready' } : reply.code(503).send({ status: 'unready' });
  });
};

/** Options of the metrics route plugin. */
export interface MetricsRoutesOptions {
  /** The registry to expose. */
  registry: Registry;
}

/** Registers GET /metrics: the registry's exposition text. */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { registry }) => {
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
};
