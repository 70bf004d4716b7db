/**
 * The simulator area: stand-ins for what cannot run here — the Vast.ai marketplace and GPU hosts
 * running vLLM — behaving like them (same API shapes, log lines and failure modes).
 */
export { startSimEngine } from './engine.js';
export type { SimEngine, SimEngineFaults, SimEngineOptions, SimEngineStats } from './types.js';
export { startSimHost, HOST_PROFILE_DOCS } from './host.js';
export { HOST_PROFILES } from './host-types.js';
export type { HostProfile, SimHost, SimHostSpec, SimContainerStatus } from './host-types.js';
export { startSimMarketplace } from './marketplace.js';
export type { SimMarketplace, SimMarketplaceOptions, SimMarketplaceFaults, SimInstanceSummary, SimOfferSummary, CannedResponse } from './marketplace-types.js';
export { DEFAULT_SCENARIO, ScenarioSchema, ScenarioOfferSchema, parseScenario, loadScenario } from './scenario.js';
export type { Scenario, ScenarioInput, ScenarioOffer, ScenarioOfferInput } from './scenario.js';
