/**
 * `drover.ops.hosts.*`: what the fleet knows about each host, read from KV `drover_hosts`, with the
 * diagnostics an operator asks for first (failure class and reason, last transition, blacklisted).
 */
import { DroverError, type HostRecord } from '../protocols/index.js';
import type { HostsListReply, HostsShowReply, HostSummary } from '../protocols/index.js';
import { toBlacklistItem } from './blacklist.js';
import type { OpsContext } from './types.js';

/** The list line of one host record. `blacklisted` holds the blacklisted provider host ids. */
export function toHostSummary(h: HostRecord, blacklisted: ReadonlySet<string>): HostSummary {
  const last = h.transitions.at(-1);
  return {
    host_id: h.host_id,
    pool_id: h.pool_id,
    provider: h.provider,
    provider_host_id: h.provider_host_id,
    ...(h.instance_id === undefined ? {} : { instance_id: h.instance_id }),
    ...(h.gpu_name === undefined ? {} : { gpu_name: h.gpu_name }),
    ...(h.price_per_hour === undefined ? {} : { price_per_hour: h.price_per_hour }),
    engine: h.engine,
    model: h.model,
    state: h.state,
    ...(h.stage === undefined ? {} : { stage: h.stage }),
    ...(h.failure === undefined ? {} : { failure_class: h.failure.class, failure_reason: h.failure.reason }),
    ...(last === undefined ? {} : { last_transition: last }),
    blacklisted: blacklisted.has(h.provider_host_id),
    updated_at: h.updated_at,
  };
}

/** `hosts.list`: every host record (optionally of one pool / in one state), by pool then host id. */
export async function listHosts(ctx: OpsContext, req: { pool_id?: string | undefined; state?: HostRecord['state'] | undefined }): Promise<HostsListReply> {
  const [hosts, blacklist] = await Promise.all([ctx.hosts.entries(), ctx.blacklist.entries()]);
  const blacklisted = new Set(blacklist.map((e) => e.value.provider_host_id));
  const summaries = hosts
    .map((e) => e.value)
    .filter((h) => (req.pool_id === undefined || h.pool_id === req.pool_id) && (req.state === undefined || h.state === req.state))
    .sort((a, b) => a.pool_id.localeCompare(b.pool_id) || a.host_id.localeCompare(b.host_id))
    .map((h) => toHostSummary(h, blacklisted));
  return { hosts: summaries };
}

/** `hosts.show`: the whole record, its machine's reputation and blacklist entries; NOT_FOUND otherwise. */
export async function showHost(ctx: OpsContext, req: { host_id: string }): Promise<HostsShowReply> {
  const found = await ctx.hosts.get(req.host_id);
  if (found === undefined) throw new DroverError('NOT_FOUND', `no host ${req.host_id}`);
  const host = found.value;
  const [reputation, blacklist] = await Promise.all([ctx.reputation.get(host.provider_host_id), ctx.blacklist.entries()]);
  return {
    host,
    ...(reputation === undefined ? {} : { reputation: reputation.value }),
    blacklist: blacklist
      .filter((e) => e.value.provider_host_id === host.provider_host_id)
      .map((e) => toBlacklistItem(e.key, e.value))
      .sort((a, b) => a.key.localeCompare(b.key)),
  };
}
