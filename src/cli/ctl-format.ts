/**
 * Readable output of `drover ctl`: one renderer per reply, plain aligned tables, no colours (so the
 * output pastes into an issue). `--json` bypasses all of this and prints the reply itself.
 */
import type { HostTransition } from '../protocols/index.js';
import type {
  BlacklistAddReply,
  BlacklistItem,
  BlacklistListReply,
  BlacklistRemovedReply,
  HostsListReply,
  HostsShowReply,
  PoolsListReply,
  PoolUpdateReply,
  StrictnessReply,
} from '../protocols/index.js';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A timestamp as `YYYY-MM-DD HH:MM:SSZ`. */
export function time(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

function transitionLine(t: HostTransition): string {
  const failure = t.failure === undefined ? '' : ` [${t.failure.class}]`;
  return `${time(t.at)}  ${t.from ?? '-'} -> ${t.to}${t.stage === undefined ? '' : ` (${t.stage})`}  ${t.reason}${failure}`;
}

function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n');
}

/** `ctl hosts ls`. */
export function formatHostsList(r: HostsListReply): string {
  if (r.hosts.length === 0) return 'no hosts';
  return table(
    ['HOST', 'POOL', 'STATE', 'STAGE', 'PROVIDER HOST', 'GPU', 'BLACKLISTED', 'CHANGED', 'FAILURE'],
    r.hosts.map((h) => [
      h.host_id,
      h.pool_id,
      h.state,
      h.stage ?? '-',
      `${h.provider}:${h.provider_host_id}`,
      h.gpu_name ?? '-',
      h.blacklisted ? 'yes' : 'no',
      time(h.last_transition?.at ?? h.updated_at),
      h.failure_class === undefined ? '-' : `${h.failure_class}: ${h.failure_reason ?? ''}`,
    ]),
  );
}

/** `ctl hosts show`. */
export function formatHostShow(r: HostsShowReply): string {
  const h = r.host;
  const fields: Array<[string, string]> = [
    ['host', h.host_id],
    ['pool', h.pool_id],
    ['state', `${h.state}${h.stage === undefined ? '' : ` (stage ${h.stage})`}`],
    ['provider', `${h.provider} host ${h.provider_host_id}${h.machine_id === undefined ? '' : ` machine ${h.machine_id}`}${h.instance_id === undefined ? '' : `, instance ${h.instance_id}`}`],
    ['workload', `${h.engine} ${h.model}`],
    ['gpu', `${h.gpu_name ?? '-'}${h.price_per_hour === undefined ? '' : `  $${h.price_per_hour.toFixed(2)}/h`}`],
    ['owner', h.owner],
    ['created', time(h.created_at)],
    ['ready', time(h.ready_at)],
    ['ended', time(h.ended_at)],
  ];
  if (h.ssh !== undefined) fields.push(['ssh', `${h.ssh.user}@${h.ssh.host}:${h.ssh.port}`]);
  if (h.engine_url !== undefined) fields.push(['engine url', h.engine_url]);
  if (h.failure !== undefined) fields.push(['failure', `${h.failure.class}${h.failure.stage === undefined ? '' : ` at ${h.failure.stage}`}: ${h.failure.reason}`]);
  const rep = r.reputation;
  if (rep !== undefined) {
    fields.push(['reputation', `${rep.successes} ok, ${rep.infra_failures} infra failures, ${rep.workload_failures} workload failures (last seen ${time(rep.last_seen)})`]);
  }
  const width = Math.max(...fields.map(([k]) => k.length));
  const out = fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (h.failure !== undefined && h.failure.evidence !== '') out.push('evidence:', indent(h.failure.evidence));
  out.push('transitions:', h.transitions.length === 0 ? '  (none)' : indent(h.transitions.map(transitionLine).join('\n')));
  out.push('blacklist:', r.blacklist.length === 0 ? '  (not blacklisted)' : indent(r.blacklist.map(blacklistLine).join('\n')));
  return out.join('\n');
}

function blacklistLine(e: BlacklistItem): string {
  return `${e.key} (${e.scope}${e.workload === undefined ? '' : ` ${e.workload}`}) by ${e.by} at ${time(e.at)}: ${e.reason}`;
}

function blacklistTable(entries: readonly BlacklistItem[]): string {
  return table(
    ['HOST', 'SCOPE', 'WORKLOAD', 'BY', 'AT', 'REASON'],
    entries.map((e) => [e.provider_host_id, e.scope, e.workload ?? '-', e.by, time(e.at), e.reason]),
  );
}

/** `ctl blacklist ls`. */
export function formatBlacklist(r: BlacklistListReply): string {
  return r.entries.length === 0 ? 'blacklist is empty' : blacklistTable(r.entries);
}

/** `ctl blacklist add`. */
export function formatBlacklistAdd(r: BlacklistAddReply): string {
  return `${r.created ? 'blacklisted' : 'updated'} host ${r.entry.provider_host_id} (${r.entry.key}) by ${r.entry.by}: ${r.entry.reason}`;
}

/** `ctl blacklist rm` and `ctl blacklist clear`. */
export function formatBlacklistRemoved(r: BlacklistRemovedReply): string {
  const head = `removed ${r.removed.length} ${r.removed.length === 1 ? 'entry' : 'entries'}, ${r.kept} kept`;
  return r.removed.length === 0 ? head : `${head}:\n${blacklistTable(r.removed)}`;
}

/** `ctl pools ls`. */
export function formatPools(r: PoolsListReply): string {
  if (r.pools.length === 0) return 'no pools';
  return table(
    ['POOL', 'ENGINE', 'DESIRED', 'DRAINING', 'UPDATED BY', 'UPDATED', 'MODEL'],
    r.pools.map((p) => [p.pool_id, p.engine, String(p.desired_replicas), p.draining ? 'yes' : 'no', p.updated_by, time(p.updated_at), p.model]),
  );
}

/** `ctl pools scale`. */
export function formatScale(r: PoolUpdateReply): string {
  const undrained = r.previous.draining && !r.pool.draining ? ', drain ended' : '';
  return `pool ${r.pool.pool_id}: desired replicas ${r.previous.desired_replicas} -> ${r.pool.desired_replicas}${undrained} (revision ${r.revision})`;
}

/** `ctl pools drain`. */
export function formatDrain(r: PoolUpdateReply): string {
  return `pool ${r.pool.pool_id}: draining${r.previous.draining ? ' (already was)' : ''} (desired replicas ${r.pool.desired_replicas}, revision ${r.revision})`;
}

/** `ctl strictness get|set`. */
export function formatStrictness(r: StrictnessReply): string {
  const change = r.previous === undefined ? r.strictness : `${r.previous} -> ${r.strictness}`;
  if (r.source === 'default') return `strictness: ${change} (default; never set)`;
  return `strictness: ${change} (set by ${r.updated_by ?? 'unknown'} at ${time(r.updated_at)})`;
}
