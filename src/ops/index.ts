/** The operator service `drover-ops`: what `drover ctl` and any NATS client talk to. */
export { startOpsService } from './service.js';
export type { OpsClock, OpsDeps } from './types.js';
