/** The engines area: adapters that stream tokens from inference engines and read their health and load. */
import type { EngineKind } from '../protocols/index.js';
import type { EngineAdapter } from './types.js';
import { VllmAdapter, type VllmAdapterOptions } from './vllm.js';

export { EngineError } from './types.js';
export type { EngineAdapter, EngineCheck, EngineChunk, EngineErrorKind, EngineHealth, EngineRequest } from './types.js';
export { VllmAdapter, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_POOLED_CHECK_WITHIN_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './vllm.js';
export type { VllmAdapterOptions } from './vllm.js';
export { MockAdapter } from './mock.js';
export type { MockAdapterOptions } from './mock.js';

/** The adapter for an engine kind at `baseUrl`. Mock adapters are built directly (`new MockAdapter`). */
export function createEngineAdapter(kind: EngineKind, baseUrl: string, opts?: VllmAdapterOptions): EngineAdapter {
  switch (kind) {
    case 'vllm':
      return new VllmAdapter(baseUrl, opts);
    case 'mock':
      throw new Error('createEngineAdapter: mock adapters are constructed directly with new MockAdapter({ model, … })');
    case 'llamacpp':
    case 'tgi':
    case 'triton':
      throw new Error(`createEngineAdapter: engine kind "${kind}" is not supported yet (only "vllm")`);
  }
}
