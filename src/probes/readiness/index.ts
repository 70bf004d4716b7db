/**
 * Readiness adapters by engine. Engines without a readiness adapter (triton, mock) are a defect to
 * ask for: Drover never launches them on rented hosts.
 */
import type { EngineKind } from '../../protocols/index.js';
import type { ReadinessAdapter } from '../types.js';
import type { ReadinessAdapterOptions } from './adapter.js';
import { LlamaCppReadinessAdapter } from './llamacpp.js';
import { TgiReadinessAdapter } from './tgi.js';
import { VllmReadinessAdapter } from './vllm.js';

/** The readiness adapter of `engine`; throws for engines Drover does not run on hosts (triton, mock). */
export function readinessAdapterFor(engine: EngineKind, opts: ReadinessAdapterOptions = {}): ReadinessAdapter {
  switch (engine) {
    case 'vllm':
      return new VllmReadinessAdapter(opts);
    case 'llamacpp':
      return new LlamaCppReadinessAdapter(opts);
    case 'tgi':
      return new TgiReadinessAdapter(opts);
    case 'triton':
    case 'mock':
      throw new Error(`no readiness adapter for engine ${engine}`);
  }
}

export { EngineReadinessAdapter } from './adapter.js';
export type { ReadinessAdapterOptions } from './adapter.js';
export { LlamaCppReadinessAdapter, llamaModelMatches } from './llamacpp.js';
export { TgiReadinessAdapter } from './tgi.js';
export { VllmReadinessAdapter } from './vllm.js';
export { GPU_QUERY, LOG_TAIL_BYTES, PROBE_TIMEOUTS, parseGpuRows } from './checks.js';
export type { GpuRow } from './checks.js';
