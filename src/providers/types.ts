/**
 * Contract of a GPU provider: where hosts come from. `VastProvider` rents Vast.ai instances over its
 * REST API (also pointed at the simulated marketplace in tests and on `make up`); `StaticProvider`
 * uses SSH hosts you own, listed in a fleet file. Expected failures are typed ProviderErrors.
 */
import type { InstanceInfo, LaunchSpec, Offer } from '../protocols/index.js';

/** What to search for. */
export interface OfferQuery {
  /** Accepted GPU names (any when empty). */
  gpu_names?: string[];
  min_gpu_ram_mb?: number;
  num_gpus?: number;
  max_dph?: number;
  min_reliability?: number;
  min_direct_ports?: number;
  min_inet_down?: number;
  limit?: number;
}

/** Why a provider call failed. */
export type ProviderErrorKind =
  | 'unauthorized' // bad or expired key
  | 'rate_limited' // 429 after retries ran out
  | 'offer_taken' // the offer was rented by someone else (no_such_ask)
  | 'not_found'
  | 'insufficient_credit'
  | 'server' // 5xx after retries
  | 'network' // connection failures after retries
  | 'bad_response' // the body did not match the documented shape
  | 'rejected'; // the provider refused the request for another reason (400 invalid_args, 200 success:false with an unknown error…)

/** A typed provider failure. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly status: number | undefined;

  constructor(kind: ProviderErrorKind, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProviderError';
    this.kind = kind;
    this.status = opts.status;
  }
}

/** A source of GPU hosts. */
export interface Provider {
  readonly name: 'vast' | 'static';
  /** Offers that match the query (the provider's own filters; Drover ranks them itself). */
  searchOffers(query: OfferQuery): Promise<Offer[]>;
  /** Rents `offer` and starts `launch` on it; `label` marks the instance as Drover's (for reconciliation). */
  create(offer: Offer, launch: LaunchSpec, label: string, model: string): Promise<{ instance_id: string }>;
  /** The instance now, or undefined when it no longer exists. */
  describe(instanceId: string): Promise<InstanceInfo | undefined>;
  /** Every instance whose label starts with `labelPrefix`. */
  listByLabel(labelPrefix: string): Promise<InstanceInfo[]>;
  /** Destroys the instance; succeeds when it is already gone (idempotent). */
  destroy(instanceId: string): Promise<void>;
}
