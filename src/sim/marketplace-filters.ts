/**
 * Offer search of the simulated marketplace, pure: scenario offers → Vast offer rows, and Vast's
 * query dict (`{field: {op: value}}` with ops eq/neq/gt/gte/lt/lte/in/notin, plus `order`, `limit`
 * and the other reserved keys) applied to them the way the server does (reference/vast-api.md §3).
 * A filter on a field the rows do not have is an `invalid_args` error, so a client typo shows up.
 */
import type { ScenarioOffer } from './scenario.js';

/** One offer row as `POST /api/v0/bundles/` returns it. */
export type OfferRow = Record<string, string | number | boolean | null>;

/** Keys of the query dict that are not field filters. */
const RESERVED = new Set(['order', 'type', 'limit', 'allocated_storage', 'disable_bundling']);
const OPS = new Set(['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notin']);
/** Rows per search when the query sets no limit. */
export const DEFAULT_SEARCH_LIMIT = 64;

/** The wire row of a scenario offer (fields of vastai/data/offer.py that a client may filter on). */
export function offerRow(o: ScenarioOffer, rented: boolean): OfferRow {
  return {
    id: o.id,
    ask_contract_id: o.id,
    bundle_id: o.id,
    machine_id: o.machine_id,
    host_id: o.host_id,
    num_gpus: o.num_gpus,
    gpu_name: o.gpu_name,
    gpu_ram: o.gpu_ram,
    gpu_total_ram: o.gpu_ram * o.num_gpus,
    gpu_arch: 'nvidia',
    cuda_max_good: o.cuda_max_good,
    driver_version: o.driver_version,
    cpu_cores: 16,
    cpu_cores_effective: 8,
    cpu_ram: 64_000,
    disk_space: 200,
    dph_base: round4(o.dph_total * 0.95),
    dph_total: o.dph_total,
    reliability: o.reliability2,
    reliability2: o.reliability2,
    inet_up: o.inet_up,
    inet_down: o.inet_down,
    direct_port_count: o.direct_port_count,
    verified: o.verified,
    verification: o.verified ? 'verified' : 'unverified',
    rentable: o.rentable && !rented,
    rented,
    external: o.external,
    is_bid: false,
    geolocation: o.geolocation,
    public_ipaddr: '127.0.0.1',
    static_ip: true,
    score: round4((o.reliability2 * 100) / Math.max(o.dph_total, 0.01)),
  };
}

/** A search answer or why the query was refused. */
export type SearchResult = { ok: true; rows: OfferRow[] } | { ok: false; msg: string };

/** Applies a Vast query dict to offer rows: filters, then `order`, then `limit`. */
export function searchRows(rows: OfferRow[], query: unknown): SearchResult {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) return { ok: false, msg: 'query must be a JSON object' };
  const q = query as Record<string, unknown>;
  let out = rows;
  for (const [field, cond] of Object.entries(q)) {
    if (RESERVED.has(field) || cond === 'any') continue;
    if (rows.length > 0 && !(field in (rows[0] as OfferRow))) return { ok: false, msg: `unknown search field: ${field}` };
    const ops = cond !== null && typeof cond === 'object' && !Array.isArray(cond) ? Object.entries(cond) : [['eq', cond] as const];
    for (const [op, value] of ops) {
      if (!OPS.has(op)) return { ok: false, msg: `unknown operator ${op} on ${field}` };
      if ((op === 'in' || op === 'notin') && !Array.isArray(value)) return { ok: false, msg: `${op} on ${field} needs a list` };
      out = out.filter((r) => matches(r[field], op, value));
    }
  }
  const ordered = orderRows(out, q.order);
  if (!ordered.ok) return ordered;
  const limit = q.limit === undefined ? DEFAULT_SEARCH_LIMIT : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 0) return { ok: false, msg: 'limit must be a non-negative integer' };
  return { ok: true, rows: ordered.rows.slice(0, limit) };
}

/** Keeps only `cols` of each row (`*` or no list keeps all). */
export function selectCols(rows: OfferRow[], cols: unknown): OfferRow[] {
  if (!Array.isArray(cols) || cols.includes('*')) return rows;
  const keep = cols.filter((c): c is string => typeof c === 'string');
  return rows.map((r) => Object.fromEntries(keep.filter((c) => c in r).map((c) => [c, r[c] ?? null])));
}

function matches(actual: OfferRow[string] | undefined, op: string, value: unknown): boolean {
  switch (op) {
    case 'eq':
      return actual === value;
    case 'neq':
      return actual !== value;
    case 'in':
      return (value as unknown[]).includes(actual);
    case 'notin':
      return !(value as unknown[]).includes(actual);
    default: {
      if (typeof actual !== 'number' || typeof value !== 'number') return false;
      if (op === 'gt') return actual > value;
      if (op === 'gte') return actual >= value;
      if (op === 'lt') return actual < value;
      return actual <= value;
    }
  }
}

function orderRows(rows: OfferRow[], order: unknown): SearchResult {
  if (order === undefined) return { ok: true, rows };
  if (!Array.isArray(order)) return { ok: false, msg: 'order must be a list of [field, "asc"|"desc"]' };
  const keys: Array<{ field: string; sign: number }> = [];
  for (const entry of order) {
    const [field, dir = 'asc'] = Array.isArray(entry) ? (entry as unknown[]) : [entry];
    if (typeof field !== 'string' || (dir !== 'asc' && dir !== 'desc')) return { ok: false, msg: 'order must be a list of [field, "asc"|"desc"]' };
    keys.push({ field, sign: dir === 'asc' ? 1 : -1 });
  }
  const sorted = [...rows].sort((a, b) => {
    for (const { field, sign } of keys) {
      const c = compare(a[field], b[field]);
      if (c !== 0) return c * sign;
    }
    return 0;
  });
  return { ok: true, rows: sorted };
}

function compare(a: OfferRow[string] | undefined, b: OfferRow[string] | undefined): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
