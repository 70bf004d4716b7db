/**
 * The providers area: where GPU hosts come from. `VastProvider` rents Vast.ai instances (or the
 * simulated marketplace's), `StaticProvider` uses hosts you own; `createProvider` picks one from
 * the fleet settings.
 */
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { FleetSettings } from '../protocols/index.js';
import type { ProbeExecutor } from '../probes/types.js';
import { StaticProvider, type StaticHostTarget } from './static.js';
import type { Provider } from './types.js';
import { VastProvider } from './vast.js';

export { ProviderError } from './types.js';
export type { Provider, OfferQuery, ProviderErrorKind } from './types.js';
export { VastProvider } from './vast.js';
export type { VastProviderOptions } from './vast.js';
export { DEFAULT_RETRY } from './vast-http.js';
export type { RetryOptions } from './vast-http.js';
export { StaticProvider, FleetFileSchema, StaticHostSchema, loadFleetFile, STATIC_INSTANCE_PREFIX } from './static.js';
export type { FleetFile, StaticHost, StaticHostTarget, StaticProviderOptions } from './static.js';
export { ENGINE_KEEP_ALIVE_S, ENGINE_KEEP_ALIVE_VAR, engineKeepAliveMs, renderOnstart } from './launch.js';

/** Which provider the fleet settings call for: Vast with an API key, owned hosts with a fleet file, else the simulator. */
export type ProviderChoice = 'vast' | 'static' | 'sim';

/** Vast when an API key is set, else static when a fleet file is, else the simulated marketplace. */
export function chooseProvider(fleet: Pick<FleetSettings, 'vast_api_key' | 'fleet_file'>): ProviderChoice {
  if (fleet.vast_api_key !== undefined) return 'vast';
  if (fleet.fleet_file !== undefined) return 'static';
  return 'sim';
}

/** What createProvider needs besides the settings. */
export interface ProviderDeps {
  logger: Logger;
  /** SSH executors to owned hosts (required for a fleet file). */
  executorFor?: (host: StaticHostTarget) => ProbeExecutor;
  /** The running simulated marketplace (required when neither a key nor a fleet file is set). */
  sim?: { url: string; apiKey: string };
  /** Resolves a relative fleet file path (the config file's directory). */
  resolvePath?: (path: string) => string;
  dispatcher?: Dispatcher;
}

/** Builds the provider the settings call for (see chooseProvider); throws when a dependency is missing. */
export async function createProvider(fleet: FleetSettings, deps: ProviderDeps): Promise<Provider> {
  const choice = chooseProvider(fleet);
  const logger = deps.logger.child({ component: `${choice}-provider` });
  const http = deps.dispatcher === undefined ? {} : { dispatcher: deps.dispatcher };
  switch (choice) {
    case 'vast':
      return new VastProvider({ apiUrl: fleet.vast_api_url, apiKey: fleet.vast_api_key ?? '', logger, ...http });
    case 'static': {
      if (deps.executorFor === undefined) throw new Error('a fleet file needs an SSH executor factory');
      const path = deps.resolvePath?.(fleet.fleet_file ?? '') ?? fleet.fleet_file ?? '';
      return StaticProvider.fromFile(path, { executorFor: deps.executorFor, logger });
    }
    case 'sim':
      if (deps.sim === undefined) throw new Error('no Vast API key and no fleet file: start the simulated marketplace and pass its URL');
      return new VastProvider({ apiUrl: deps.sim.url, apiKey: deps.sim.apiKey, logger, ...http });
  }
}
