/**
 * Contracts of the operator service: what `startOpsService` needs. Every store is a KV bucket of
 * DESIGN §6; the service holds no state of its own, so any number of Drover processes can run it
 * (micro's queue group hands each request to one of them).
 */
import type { Logger } from 'pino';
import type { BlacklistEntry, HostRecord, Reputation, Strictness } from '../protocols/index.js';
import type { PoolSpecRecord, StrictnessSetting } from '../protocols/index.js';
import type { KvStore, Transport } from '../transport/index.js';

/** Injected time; an actor-runtime `Clock` fits (only `now` is used). */
export interface OpsClock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** What the operator service reads and writes. */
export interface OpsDeps {
  /** Answers on `transport.services`; publishes pool-control messages on `transport.bus`. */
  transport: Transport;
  /** KV `drover_hosts` (read only). */
  hosts: KvStore<HostRecord>;
  /** KV `drover_blacklist`. */
  blacklist: KvStore<BlacklistEntry>;
  /** KV `drover_pools`: desired state of each pool. */
  pools: KvStore<PoolSpecRecord>;
  /** KV `drover_settings`, key `strictness`. */
  settings: KvStore<StrictnessSetting>;
  /** KV `drover_reputation` (read only). */
  reputation: KvStore<Reputation>;
  /** This process; shown in the service's `$SRV.INFO` metadata. */
  nodeId: string;
  clock: OpsClock;
  logger: Logger;
  /** Strictness in effect while KV holds none: the configured `fleet.strictness` (default `strict`). */
  defaultStrictness?: Strictness;
  /** Compare-and-set attempts before a write is reported as a conflict (default 5). */
  casAttempts?: number;
}

/** The resolved dependencies the handlers share. */
export interface OpsContext extends OpsDeps {
  defaultStrictness: Strictness;
  casAttempts: number;
  log: Logger;
}
