/**
 * Vast.ai wire ↔ Drover shapes (reference/vast-api.md §3–§5), pure: the search query dict, the
 * create body, and the normalisation of offer and instance rows into Offer and InstanceInfo.
 * Decoding is lenient where Vast is loose (ports as strings, ints, missing or a list; `instances`
 * as an object, null or an array) and strict where a wrong guess would cost money.
 */
import {
  InstanceStatusSchema,
  OfferSchema,
  VastInstanceWireSchema,
  VastOfferWireSchema,
  type InstanceInfo,
  type InstanceStatus,
  type LaunchSpec,
  type Offer,
  type VastInstanceWire,
  type VastOfferWire,
} from '../protocols/index.js';
import type { VastCreateRequestWire } from '../protocols/offers.js';
import { renderOnstart, vastEnv } from './launch.js';
import type { OfferQuery } from './types.js';

/** Offers per search when the query sets no limit (Vast answers at most ~64). */
export const DEFAULT_OFFER_LIMIT = 64;

/** The CLI's default filters (unless `--no-default`). */
const DEFAULT_FILTERS = {
  verified: { eq: true },
  external: { eq: false },
  rentable: { eq: true },
  rented: { eq: false },
} as const;

/** The `POST /api/v0/bundles/` body for a query: CLI defaults, then one `{op: value}` per bound. */
export function buildOfferQuery(query: OfferQuery): Record<string, unknown> {
  const q: Record<string, unknown> = { ...DEFAULT_FILTERS };
  if (query.num_gpus !== undefined) q.num_gpus = { eq: query.num_gpus };
  if (query.min_gpu_ram_mb !== undefined) q.gpu_ram = { gte: query.min_gpu_ram_mb };
  if (query.gpu_names !== undefined && query.gpu_names.length > 0) q.gpu_name = { in: query.gpu_names };
  if (query.min_reliability !== undefined) q.reliability2 = { gte: query.min_reliability };
  if (query.min_direct_ports !== undefined) q.direct_port_count = { gte: query.min_direct_ports };
  if (query.min_inet_down !== undefined) q.inet_down = { gte: query.min_inet_down };
  if (query.max_dph !== undefined) q.dph_total = { lte: query.max_dph };
  q.order = [['dph_total', 'asc']];
  q.type = 'on-demand';
  q.limit = query.limit ?? DEFAULT_OFFER_LIMIT;
  return q;
}

/** The `PUT /api/v0/asks/{id}/` body, as vast-cli builds it, with runtype `ssh` (we need SSH and onstart). */
export function buildCreateBody(launch: LaunchSpec, label: string, model: string): VastCreateRequestWire {
  return {
    client_id: 'me',
    image: launch.image,
    env: vastEnv(launch),
    price: null,
    disk: launch.disk_gb,
    label,
    extra: null,
    onstart: renderOnstart(launch, model),
    image_login: null,
    python_utf8: false,
    lang_utf8: false,
    use_jupyter_lab: false,
    jupyter_dir: null,
    force: false,
    cancel_unavail: false,
    template_hash_id: null,
    user: null,
    runtype: 'ssh',
  };
}

/** Result of decoding a search answer: the offers kept and why rows were left out. */
export interface DecodedOffers {
  offers: Offer[];
  /** Rows that failed the wire schema or the Offer schema. */
  skipped: number;
  /** The first reason a row was skipped, for one log line. */
  firstIssue?: string;
}

/** Decodes the `offers` rows one by one: a bad row is skipped, rented rows are dropped (as the CLI does). */
export function decodeOffers(rows: unknown[]): DecodedOffers {
  const offers: Offer[] = [];
  let skipped = 0;
  let firstIssue: string | undefined;
  for (const row of rows) {
    const wire = VastOfferWireSchema.safeParse(row);
    const offer = wire.success ? OfferSchema.safeParse(normaliseOffer(wire.data)) : undefined;
    if (offer?.success === true) {
      if (wire.success && wire.data.rented === true) continue;
      offers.push(offer.data);
      continue;
    }
    skipped++;
    firstIssue ??= wire.success ? offer?.error.issues[0]?.message : `${wire.error.issues[0]?.path.join('.') ?? ''}: ${wire.error.issues[0]?.message ?? ''}`;
  }
  return firstIssue === undefined ? { offers, skipped } : { offers, skipped, firstIssue };
}

/** One wire offer → Offer (not validated: pass it through OfferSchema). */
export function normaliseOffer(w: VastOfferWire): Offer {
  const offer: Offer = {
    offer_id: String(w.id),
    provider_host_id: String(w.host_id),
    machine_id: String(w.machine_id),
    gpu_name: w.gpu_name,
    num_gpus: w.num_gpus,
    gpu_ram_mb: w.gpu_ram,
    reliability: w.reliability2 ?? w.reliability ?? 0,
    dph_total: w.dph_total,
    direct_port_count: w.direct_port_count ?? 0,
    verified: w.verified ?? w.verification === 'verified',
    rentable: w.rentable ?? w.rented !== true,
  };
  if (w.cuda_max_good !== undefined) offer.cuda_max_good = w.cuda_max_good;
  if (w.driver_version != null) offer.driver_version = w.driver_version;
  if (w.geolocation != null) offer.geolocation = w.geolocation;
  if (w.inet_down !== undefined) offer.inet_down = w.inet_down;
  return offer;
}

/** Why an instance row could not be decoded. */
export class InstanceDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceDecodeError';
  }
}

/** Decodes one raw instance row; throws InstanceDecodeError when it is not one. */
export function decodeInstance(row: unknown): InstanceInfo {
  const wire = VastInstanceWireSchema.safeParse(row);
  if (!wire.success) {
    const issue = wire.error.issues[0];
    throw new InstanceDecodeError(`instance row: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return normaliseInstance(wire.data);
}

/**
 * The rows of a `GET /api/v0/instances/{id}/` answer's `instances`: an object is one row, null is
 * none, an array (older edge cases) is filtered to the asked id when one is given.
 */
export function showInstanceRows(instances: unknown, id?: string): unknown[] {
  if (instances === null || instances === undefined) return [];
  if (!Array.isArray(instances)) return [instances];
  if (id === undefined) return instances;
  const match = instances.filter((r) => typeof r === 'object' && r !== null && String((r as { id?: unknown }).id) === id);
  return match.length > 0 ? match : instances.slice(0, 1);
}

/** One wire instance → InstanceInfo. */
export function normaliseInstance(w: VastInstanceWire): InstanceInfo {
  const publicIp = nonEmpty(w.public_ipaddr);
  const ports = normalisePorts(w.ports, publicIp);
  const info: InstanceInfo = {
    instance_id: String(w.id),
    provider_host_id: w.host_id === undefined ? '' : String(w.host_id),
    status: normaliseStatus(w.actual_status),
    ports,
  };
  if (w.machine_id !== undefined) info.machine_id = String(w.machine_id);
  if (w.label != null) info.label = w.label;
  if (w.status_msg != null) info.status_msg = w.status_msg;
  const direct = ports['22/tcp'];
  const proxyHost = nonEmpty(w.ssh_host);
  if (direct !== undefined && publicIp !== undefined) {
    info.ssh = { host: publicIp, port: direct.port, user: 'root' };
  } else if (proxyHost !== undefined && isPort(w.ssh_port)) {
    info.ssh = { host: proxyHost, port: w.ssh_port, user: 'root' };
  }
  if (publicIp !== undefined) info.public_ip = publicIp;
  if (w.gpu_name != null) info.gpu_name = w.gpu_name;
  if (w.dph_total != null) info.dph_total = w.dph_total;
  if (w.start_date != null) info.start_date = w.start_date;
  return info;
}

/** `actual_status` → InstanceStatus: null is 'provisioning', an unlisted value is 'unknown'. */
export function normaliseStatus(actual: string | null | undefined): InstanceStatus {
  if (actual == null) return 'provisioning';
  const parsed = InstanceStatusSchema.safeParse(actual);
  return parsed.success ? parsed.data : 'unknown';
}

/**
 * Docker's `NetworkSettings.Ports` → `"<port>/tcp"` → public address. The host is the binding's
 * HostIp when it is a specific address, else the instance's public IP; bindings without a usable
 * port or host are left out. Any other shape of `ports` (missing, null, a list) gives `{}`.
 */
export function normalisePorts(ports: VastInstanceWire['ports'], publicIp: string | undefined): InstanceInfo['ports'] {
  const out: InstanceInfo['ports'] = {};
  if (ports == null || Array.isArray(ports)) return out;
  for (const [key, bindings] of Object.entries(ports)) {
    if (!/^\d+\/tcp$/.test(key) || bindings == null) continue;
    for (const b of bindings) {
      const port = Number(b.HostPort);
      const hostIp = nonEmpty(b.HostIp);
      const host = hostIp !== undefined && hostIp !== '0.0.0.0' && hostIp !== '::' ? hostIp : publicIp;
      if (isPort(port) && host !== undefined) {
        out[key] = { host, port };
        break;
      }
    }
  }
  return out;
}

function isPort(p: number | null | undefined): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;
}

function nonEmpty(s: string | null | undefined): string | undefined {
  const t = s?.trim();
  return t === undefined || t === '' ? undefined : t;
}
