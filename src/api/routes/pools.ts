/**
 * Pool routes: the fleet as the scheduler sees it, and per-pool health.
 */
import type { FastifyPluginAsync } from 'fastify';
import { DroverError, type PoolHealth, type PoolView } from '../../protocols/index.js';
import type { TaskGateway } from '../types.js';
import { poolHealth } from '../views.js';

/** Options of the pool routes plugin. */
export interface PoolRoutesOptions {
  /** Source of pool views. */
  gateway: TaskGateway;
}

/** Registers GET /v2/pools and GET /v2/pools/:id/health. */
export const poolRoutes: FastifyPluginAsync<PoolRoutesOptions> = async (app, { gateway }) => {
  app.get('/v2/pools', async (): Promise<{ pools: PoolView[] }> => ({ pools: await gateway.pools() }));

  app.get<{ Params: { id: string } }>('/v2/pools/:id/health', async (request): Promise<PoolHealth> => {
    const { id } = request.params;
    const pool = (await gateway.pools()).find((p) => p.pool_id === id);
    if (pool === undefined) throw new DroverError('NOT_FOUND', `pool ${id.slice(0, 128)} not found`);
    return poolHealth(pool);
  });
};
