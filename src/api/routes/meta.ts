/**
 * Meta routes: what this deployment can do.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Capabilities, TaskGateway } from '../types.js';
import { capabilities } from '../views.js';

/** Options of the meta routes plugin. */
export interface MetaRoutesOptions {
  /** Source of pool views. */
  gateway: TaskGateway;
}

/** Registers GET /v2/meta/capabilities. */
export const metaRoutes: FastifyPluginAsync<MetaRoutesOptions> = async (app, { gateway }) => {
  app.get('/v2/meta/capabilities', async (): Promise<Capabilities> => capabilities(await gateway.pools()));
};
