/** The HTTP front door: the native /v2 API over a TaskGateway. */
export { buildApi } from './server.js';
export { poolHealth, capabilities } from './views.js';
export type { ApiOptions, TaskGateway, Capabilities, EngineCapabilities } from './types.js';
