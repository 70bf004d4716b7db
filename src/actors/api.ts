/**
 * ApiActor: the HTTP front door of one process. Stateless: it owns the fastify server and talks to
 * the scheduler only through the NATS gateway.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildApi, type TaskGateway } from '../api/index.js';
import type { Behavior } from './types.js';

/** Messages of the ApiActor. */
export const ApiMsgSchema = z.discriminatedUnion('type', [z.object({ type: z.literal('api.address') })]);
export type ApiMsg = z.infer<typeof ApiMsgSchema>;

/** What the ApiActor needs. */
export interface ApiDeps {
  gateway: TaskGateway;
  registry: Registry;
  logger: Logger;
  host: string;
  port: number;
  apiToken?: string;
}

interface ApiState {
  app: FastifyInstance;
  url: string;
}

/** The ApiActor's behavior: listens on init, closes on stop. `api.address` answers the base URL. */
export function apiBehavior(deps: ApiDeps): Behavior<ApiState, ApiMsg> {
  return {
    schema: ApiMsgSchema,
    async init() {
      const app = await buildApi({
        gateway: deps.gateway,
        logger: deps.logger,
        registry: deps.registry,
        ...(deps.apiToken === undefined ? {} : { apiToken: deps.apiToken }),
      });
      await app.listen({ host: deps.host, port: deps.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : deps.port;
      return { app, url: `http://${deps.host.includes(':') ? `[${deps.host}]` : deps.host}:${port}` };
    },
    receive(state, msg, ctx) {
      switch (msg.type) {
        case 'api.address':
          ctx.reply(state.url);
          return state;
      }
    },
    async onStop(state) {
      await state?.app.close();
    },
  };
}
