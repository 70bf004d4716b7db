/**
 * The operator service `drover-ops` (DESIGN §4): one NATS micro service whose endpoints list hosts
 * with their diagnostics, read and edit the blacklist, scale and drain pools and set the
 * strictness policy. It is stateless over the KV buckets of DESIGN §6, so every Drover process may
 * run it; `$SRV.PING/INFO/STATS.drover-ops` find them all.
 */
import {
  BlacklistAddRequestSchema,
  BlacklistClearRequestSchema,
  BlacklistListRequestSchema,
  BlacklistRemoveRequestSchema,
  HostsListRequestSchema,
  HostsShowRequestSchema,
  OPS_SERVICE,
  OPS_SERVICE_VERSION,
  OPS_SUBJECTS,
  PoolsDrainRequestSchema,
  PoolsListRequestSchema,
  PoolsScaleRequestSchema,
  StrictnessGetRequestSchema,
  StrictnessSetRequestSchema,
} from '../protocols/index.js';
import { endpoint, type ServiceEndpoint, type ServiceHandle } from '../transport/index.js';
import { addBlacklist, clearBlacklist, listBlacklist, removeBlacklist } from './blacklist.js';
import { listHosts, showHost } from './hosts.js';
import { drainPool, listPools, scalePool } from './pools.js';
import { getStrictness, setStrictness } from './strictness.js';
import type { OpsContext, OpsDeps } from './types.js';

/** Default compare-and-set attempts per write. */
const DEFAULT_CAS_ATTEMPTS = 5;

/** The endpoints of `drover-ops`, in `$SRV.INFO` order. */
export function opsEndpoints(ctx: OpsContext): ServiceEndpoint[] {
  return [
    endpoint({ name: 'hosts-list', subject: OPS_SUBJECTS.hostsList, schema: HostsListRequestSchema, handler: (req) => listHosts(ctx, req) }),
    endpoint({ name: 'hosts-show', subject: OPS_SUBJECTS.hostsShow, schema: HostsShowRequestSchema, handler: (req) => showHost(ctx, req) }),
    endpoint({ name: 'blacklist-list', subject: OPS_SUBJECTS.blacklistList, schema: BlacklistListRequestSchema, handler: (req) => listBlacklist(ctx, req) }),
    endpoint({ name: 'blacklist-add', subject: OPS_SUBJECTS.blacklistAdd, schema: BlacklistAddRequestSchema, handler: (req) => addBlacklist(ctx, req) }),
    endpoint({ name: 'blacklist-remove', subject: OPS_SUBJECTS.blacklistRemove, schema: BlacklistRemoveRequestSchema, handler: (req) => removeBlacklist(ctx, req) }),
    endpoint({ name: 'blacklist-clear', subject: OPS_SUBJECTS.blacklistClear, schema: BlacklistClearRequestSchema, handler: (req) => clearBlacklist(ctx, req) }),
    endpoint({ name: 'pools-list', subject: OPS_SUBJECTS.poolsList, schema: PoolsListRequestSchema, handler: () => listPools(ctx) }),
    endpoint({ name: 'pools-scale', subject: OPS_SUBJECTS.poolsScale, schema: PoolsScaleRequestSchema, handler: (req) => scalePool(ctx, req) }),
    endpoint({ name: 'pools-drain', subject: OPS_SUBJECTS.poolsDrain, schema: PoolsDrainRequestSchema, handler: (req) => drainPool(ctx, req) }),
    endpoint({ name: 'strictness-get', subject: OPS_SUBJECTS.strictnessGet, schema: StrictnessGetRequestSchema, handler: () => getStrictness(ctx) }),
    endpoint({ name: 'strictness-set', subject: OPS_SUBJECTS.strictnessSet, schema: StrictnessSetRequestSchema, handler: (req) => setStrictness(ctx, req) }),
  ];
}

/** Starts `drover-ops` on the transport; resolves once it answers. Stop it with the handle. */
export async function startOpsService(deps: OpsDeps): Promise<ServiceHandle> {
  const log = deps.logger.child({ component: 'ops', node_id: deps.nodeId });
  const ctx: OpsContext = {
    ...deps,
    defaultStrictness: deps.defaultStrictness ?? 'strict',
    casAttempts: deps.casAttempts ?? DEFAULT_CAS_ATTEMPTS,
    log,
  };
  return deps.transport.services.add(
    {
      name: OPS_SERVICE,
      version: OPS_SERVICE_VERSION,
      description: 'Drover operator commands: hosts, blacklist, pools, strictness',
      logger: log,
      metadata: { node_id: deps.nodeId },
    },
    opsEndpoints(ctx),
  );
}
