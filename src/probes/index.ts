/** The probes area: the SSH probe executor and the engine readiness adapters (DESIGN §5). */
export { createSshExecutor, SshProbeExecutor } from './ssh.js';
export type { SshExecutorOptions } from './ssh.js';
export { generateSshKeyPair } from './ssh-keys.js';
export type { SshKeyPair } from './ssh-keys.js';
export { shellQuote, probeScript, bashInvocation } from './quote.js';
export {
  readinessAdapterFor,
  EngineReadinessAdapter,
  VllmReadinessAdapter,
  LlamaCppReadinessAdapter,
  TgiReadinessAdapter,
  llamaModelMatches,
  parseGpuRows,
  GPU_QUERY,
  LOG_TAIL_BYTES,
  PROBE_TIMEOUTS,
} from './readiness/index.js';
export type { ReadinessAdapterOptions, GpuRow } from './readiness/index.js';
export type { SshTarget, ProbeRequest, ProbeExecutor, StageObservation, ReadinessContext, ReadinessAdapter } from './types.js';
