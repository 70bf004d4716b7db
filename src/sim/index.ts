/** The simulator area: stand-ins for what cannot run here (GPU hosts running vLLM). */
export { startSimEngine } from './engine.js';
export type { SimEngine, SimEngineFaults, SimEngineOptions, SimEngineStats } from './types.js';
