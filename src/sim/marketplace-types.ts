/**
 * Contract of the simulated Vast.ai marketplace: how it is started and what tests can see and
 * switch at runtime. The implementation is split into routes (HTTP), state (offers, instances,
 * hosts) and filters (offer search).
 */
import type { Logger } from 'pino';
import type { HostProfile, SimHost, SimHostSpec } from './host-types.js';
import type { Scenario } from './scenario.js';

/** Options of `startSimMarketplace`. */
export interface SimMarketplaceOptions {
  scenario: Scenario;
  /** Accepted API key (Bearer or `?api_key=`); any key is accepted when unset. */
  apiKey?: string;
  /** Starts the host behind a new instance (`startSimHost` in production, a stub in API tests). */
  hostFactory: (spec: SimHostSpec) => Promise<SimHost>;
  /** OpenSSH public keys every host accepts (the account's SSH keys on Vast). */
  authorizedKeys: string[];
  /** Multiplies the provisioning durations and is passed on to hosts (1 ≈ real; tests ~0.01). */
  timeScale: number;
  /** 0 or unset picks a free port on 127.0.0.1. */
  port?: number;
  logger: Logger;
  /** Answer every Nth request with 429 `API requests too frequent` (no Retry-After). */
  rateLimitEvery?: number;
  /** Clock (ms) for the instance lifecycle; Date.now by default. */
  now?: () => number;
}

/** Faults that can be switched while the marketplace runs. */
export interface SimMarketplaceFaults {
  /** Answer every Nth request with a plain-text 429; unset or 0 turns it off. */
  rateLimitEvery?: number;
}

/** A canned answer for the next request, whatever it is (5xx, malformed bodies…). */
export interface CannedResponse {
  status: number;
  /** Sent as is when a string, else as JSON. */
  body: unknown;
  contentType?: string;
}

/** An instance as tests see it. */
export interface SimInstanceSummary {
  instance_id: string;
  offer_id: number;
  host_id: number;
  label: string | null;
  profile: HostProfile;
  /** Vast `actual_status` now (null while provisioning). */
  actual_status: string | null;
  /** The host object was started (the factory resolved). */
  host_started: boolean;
}

/** An offer as tests see it. */
export interface SimOfferSummary {
  id: number;
  host_id: number;
  gpu_name: string;
  dph_total: number;
  profile: HostProfile;
  rented: boolean;
}

/** A running simulated marketplace. */
export interface SimMarketplace {
  /** Base URL to give VastProvider as `apiUrl` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Faults switchable at runtime (mutate the object). */
  readonly faults: SimMarketplaceFaults;
  /** Live instances (destroyed ones are gone). */
  instances(): SimInstanceSummary[];
  /** Every scenario offer, rented or not. */
  offers(): SimOfferSummary[];
  /** Requests received so far (including refused ones). */
  requestCount(): number;
  /** Queues answers for the next requests, in order. */
  injectResponses(...responses: CannedResponse[]): void;
  /** Stops the server and closes every host. */
  close(): Promise<void>;
}
