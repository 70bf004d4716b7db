/**
 * `drover.ops.blacklist.*`: reads and edits KV `drover_blacklist`. Operators add entries of scope
 * `operator` only; removing one host takes its operator and global entries (or one named scope);
 * clearing takes every operator and global entry and leaves workload entries, which record an
 * incompatibility rather than a broken machine. Every write and delete is compare-and-set.
 */
import { DroverError, type BlacklistEntry } from '../protocols/index.js';
import {
  DEFAULT_OPERATOR,
  type BlacklistAddReply,
  type BlacklistItem,
  type BlacklistListReply,
  type BlacklistRemovedReply,
  type BlacklistScope,
} from '../protocols/index.js';
import { casDelete, casWrite } from './cas.js';
import type { OpsContext } from './types.js';

/** Scopes `remove` (without a scope) and `clear` take away. */
const REMOVABLE_SCOPES: readonly BlacklistScope[] = ['operator', 'global'];

/** A blacklist entry with its key, as the ops replies carry it. */
export function toBlacklistItem(key: string, entry: BlacklistEntry): BlacklistItem {
  return { key, ...entry };
}

/** KV key of an operator entry. */
export function operatorBlacklistKey(providerHostId: string): string {
  return `operator.${providerHostId}`;
}

/** `blacklist.list`: every entry (optionally one scope / one host), by key. */
export async function listBlacklist(ctx: OpsContext, req: { scope?: BlacklistScope | undefined; provider_host_id?: string | undefined }): Promise<BlacklistListReply> {
  const entries = await ctx.blacklist.entries();
  return {
    entries: entries
      .filter((e) => (req.scope === undefined || e.value.scope === req.scope) && (req.provider_host_id === undefined || e.value.provider_host_id === req.provider_host_id))
      .map((e) => toBlacklistItem(e.key, e.value))
      .sort((a, b) => a.key.localeCompare(b.key)),
  };
}

/** `blacklist.add`: writes (or rewrites) the host's operator entry. */
export async function addBlacklist(
  ctx: OpsContext,
  req: { provider_host_id: string; reason: string; operator?: string | undefined; evidence?: string | undefined },
): Promise<BlacklistAddReply> {
  const key = operatorBlacklistKey(req.provider_host_id);
  const by = req.operator ?? DEFAULT_OPERATOR;
  const entry: BlacklistEntry = {
    provider_host_id: req.provider_host_id,
    scope: 'operator',
    reason: req.reason,
    by,
    at: ctx.clock.now(),
    ...(req.evidence === undefined ? {} : { evidence: req.evidence }),
  };
  const written = await casWrite(ctx.blacklist, key, () => entry, ctx.casAttempts);
  ctx.log.info({ provider_host_id: req.provider_host_id, key, by, reason: req.reason }, `host ${req.provider_host_id} blacklisted by ${by}`);
  return { entry: toBlacklistItem(key, written.value), created: written.previous === undefined };
}

/** Deletes each candidate that still has a scope in `scopes`; returns what went. */
async function removeEntries(ctx: OpsContext, candidates: Array<{ key: string; value: BlacklistEntry }>, scopes: readonly BlacklistScope[]): Promise<BlacklistItem[]> {
  const removed: BlacklistItem[] = [];
  for (const c of candidates) {
    const gone = await casDelete(ctx.blacklist, c.key, (v) => v.provider_host_id === c.value.provider_host_id && scopes.includes(v.scope), ctx.casAttempts);
    if (gone !== undefined) removed.push(toBlacklistItem(c.key, gone));
  }
  return removed.sort((a, b) => a.key.localeCompare(b.key));
}

/** `blacklist.remove`: un-blacklists one host; NOT_FOUND when nothing matched. */
export async function removeBlacklist(
  ctx: OpsContext,
  req: { provider_host_id: string; scope?: BlacklistScope | undefined; operator?: string | undefined },
): Promise<BlacklistRemovedReply> {
  const scopes = req.scope === undefined ? REMOVABLE_SCOPES : [req.scope];
  const ofHost = (await ctx.blacklist.entries()).filter((e) => e.value.provider_host_id === req.provider_host_id);
  const removed = await removeEntries(ctx, ofHost.filter((e) => scopes.includes(e.value.scope)), scopes);
  if (removed.length === 0) {
    throw new DroverError('NOT_FOUND', `host ${req.provider_host_id} has no ${scopes.join(' or ')} blacklist entry`);
  }
  const by = req.operator ?? DEFAULT_OPERATOR;
  ctx.log.info({ provider_host_id: req.provider_host_id, keys: removed.map((r) => r.key), by }, `host ${req.provider_host_id} un-blacklisted by ${by}`);
  return { removed, kept: ofHost.length - removed.length };
}

/** `blacklist.clear`: removes every operator and global entry; says which. */
export async function clearBlacklist(ctx: OpsContext, req: { operator?: string | undefined }): Promise<BlacklistRemovedReply> {
  const all = await ctx.blacklist.entries();
  const removed = await removeEntries(ctx, all.filter((e) => REMOVABLE_SCOPES.includes(e.value.scope)), REMOVABLE_SCOPES);
  const by = req.operator ?? DEFAULT_OPERATOR;
  ctx.log.info({ keys: removed.map((r) => r.key), by }, `blacklist cleared by ${by}: ${removed.length} entries removed`);
  return { removed, kept: all.length - removed.length };
}
