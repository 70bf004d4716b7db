/**
 * State of the simulated marketplace: which offers are rented, the instances and the SimHost behind
 * each. An instance's `actual_status` is null, then `created` for a while after renting (scaled by
 * timeScale), then whatever its host reports: `loading` while the container starts, `running`, or
 * `exited` (a `container_fail` host reports Docker's OCI error itself). The host is the one source
 * of truth for the container; a host that cannot even be started shows as `exited` with a daemon
 * error. Destroying frees the offer (it is listed again, like a machine back on the market) and
 * closes the host.
 */
import type { Logger } from 'pino';
import type { VastCreateRequestWire } from '../protocols/offers.js';
import type { SimHost, SimHostSpec } from './host-types.js';
import { offerRow, type OfferRow } from './marketplace-filters.js';
import type { SimInstanceSummary, SimOfferSummary } from './marketplace-types.js';
import type { Scenario, ScenarioOffer } from './scenario.js';

/** Durations at timeScale 1 (ms) of the phases before the host has a say: null, then `created`. */
export const PHASE_MS = { provisioning: 2_000, created: 1_000 } as const;

/** `status_msg` prefix of a host that could not be started (as Docker's daemon errors read on Vast). */
export const HOST_START_FAILURE_PREFIX = 'Error response from daemon: failed to create task for container: ';

const FIRST_INSTANCE_ID = 7_835_610;

interface Instance {
  id: number;
  offer: ScenarioOffer;
  label: string | null;
  image: string;
  runtype: string;
  env: Record<string, string>;
  onstart: string | null;
  disk: number;
  createdAtMs: number;
  enginePortKey: string;
  host: SimHost | undefined;
  hostError: string | undefined;
  destroyed: boolean;
}

interface Status {
  actual_status: string | null;
  status_msg: string | null;
}

/** Options of MarketplaceState (the marketplace's, minus HTTP). */
export interface MarketplaceStateOptions {
  scenario: Scenario;
  hostFactory: (spec: SimHostSpec) => Promise<SimHost>;
  authorizedKeys: string[];
  timeScale: number;
  now: () => number;
  logger: Logger;
}

/** Offers, instances and hosts of one simulated marketplace. */
export class MarketplaceState {
  private readonly offersById = new Map<number, { offer: ScenarioOffer; rented: boolean }>();
  private readonly live = new Map<number, Instance>();
  /** Host factories still running, so close() can wait for them and close what they start. */
  private readonly pending = new Set<Promise<void>>();
  private nextId = FIRST_INSTANCE_ID;

  constructor(private readonly opts: MarketplaceStateOptions) {
    for (const offer of opts.scenario.offers) this.offersById.set(offer.id, { offer, rented: false });
  }

  /** Rows of every offer (rented ones say so; the `rented: {eq: false}` filter hides them). */
  offerRows(): OfferRow[] {
    return [...this.offersById.values()].map(({ offer, rented }) => offerRow(offer, rented));
  }

  /** Rents an offer; undefined when it is unknown, taken or not rentable (`no_such_ask`). */
  rent(offerId: number, body: VastCreateRequestWire): number | undefined {
    const entry = this.offersById.get(offerId);
    if (entry === undefined || entry.rented || !entry.offer.rentable) return undefined;
    entry.rented = true;
    const env = envObject(body.env);
    const inst: Instance = {
      id: this.nextId++,
      offer: entry.offer,
      label: body.label ?? null,
      image: body.image,
      runtype: body.runtype ?? 'ssh',
      env,
      onstart: body.onstart ?? null,
      disk: body.disk ?? 8,
      createdAtMs: this.opts.now(),
      enginePortKey: enginePortKey(env),
      host: undefined,
      hostError: undefined,
      destroyed: false,
    };
    const starting = this.startHost(inst);
    this.pending.add(starting);
    void starting.finally(() => this.pending.delete(starting));
    this.live.set(inst.id, inst);
    this.opts.logger.info({ instance_id: inst.id, offer_id: offerId, host_id: entry.offer.host_id, profile: entry.offer.profile, label: inst.label }, 'sim instance created');
    return inst.id;
  }

  /** The instance row of `GET /api/v0/instances/{id}/`, or undefined once destroyed or unknown. */
  instanceRow(id: number): Record<string, unknown> | undefined {
    const inst = this.live.get(id);
    return inst === undefined ? undefined : this.row(inst);
  }

  /** Every live instance row, by id. */
  instanceRows(): Array<Record<string, unknown>> {
    return [...this.live.values()].sort((a, b) => a.id - b.id).map((i) => this.row(i));
  }

  /**
   * Destroys an instance; false when it does not exist (any more). Resolves once its host is
   * closed; a host still starting is closed as soon as it has started.
   */
  async destroy(id: number): Promise<boolean> {
    const inst = this.live.get(id);
    if (inst === undefined) return false;
    this.live.delete(id);
    inst.destroyed = true;
    const entry = this.offersById.get(inst.offer.id);
    if (entry !== undefined) entry.rented = false;
    this.opts.logger.info({ instance_id: id }, 'sim instance destroyed');
    await this.closeHost(inst);
    return true;
  }

  /** What tests see of the instances. */
  summaries(): SimInstanceSummary[] {
    return [...this.live.values()].map((i) => ({
      instance_id: String(i.id),
      offer_id: i.offer.id,
      host_id: i.offer.host_id,
      label: i.label,
      profile: i.offer.profile,
      actual_status: this.status(i).actual_status,
      host_started: i.host !== undefined,
    }));
  }

  /** What tests see of the offers. */
  offerSummaries(): SimOfferSummary[] {
    return [...this.offersById.values()].map(({ offer, rented }) => ({
      id: offer.id,
      host_id: offer.host_id,
      gpu_name: offer.gpu_name,
      dph_total: offer.dph_total,
      profile: offer.profile,
      rented,
    }));
  }

  /** Destroys everything and waits until every host, including those still starting, is closed. */
  async close(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.destroy(id)));
    await Promise.all([...this.pending]);
  }

  private async startHost(inst: Instance): Promise<void> {
    const spec: SimHostSpec = {
      instance_id: String(inst.id),
      profile: inst.offer.profile,
      gpu_name: inst.offer.gpu_name,
      gpu_ram_mb: inst.offer.gpu_ram,
      onstart: inst.onstart ?? '',
      env: Object.fromEntries(Object.entries(inst.env).filter(([k]) => !k.startsWith('-'))),
      authorizedKeys: this.opts.authorizedKeys,
      timeScale: this.opts.timeScale,
    };
    try {
      const host = await this.opts.hostFactory(spec);
      inst.host = host;
      if (inst.destroyed) await this.closeHost(inst);
    } catch (err) {
      inst.hostError = err instanceof Error ? err.message : String(err);
      this.opts.logger.error({ instance_id: inst.id, err }, 'sim host failed to start');
    }
  }

  private async closeHost(inst: Instance): Promise<void> {
    const host = inst.host;
    if (host === undefined) return; // startHost closes it when the factory resolves
    inst.host = undefined;
    await host.close().catch((err: unknown) => this.opts.logger.warn({ instance_id: inst.id, err }, 'closing a sim host failed'));
  }

  private status(inst: Instance): Status {
    const age = this.opts.now() - inst.createdAtMs;
    const scale = this.opts.timeScale;
    const untilCreated = PHASE_MS.provisioning * scale;
    const untilLoading = untilCreated + PHASE_MS.created * scale;
    if (age < untilCreated) return { actual_status: null, status_msg: null };
    if (age < untilLoading) return { actual_status: 'created', status_msg: 'Instance created, waiting for the machine' };
    if (inst.hostError !== undefined) return { actual_status: 'exited', status_msg: `${HOST_START_FAILURE_PREFIX}${inst.hostError}` };
    if (inst.host === undefined) return { actual_status: 'loading', status_msg: `Pulling image ${inst.image}` };
    try {
      const s = inst.host.status();
      return { actual_status: s.actual_status, status_msg: s.status_msg };
    } catch (err) {
      return { actual_status: 'unknown', status_msg: err instanceof Error ? err.message : String(err) };
    }
  }

  private row(inst: Instance): Record<string, unknown> {
    const o = inst.offer;
    const { actual_status, status_msg } = this.status(inst);
    const host = inst.host;
    const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    if (actual_status === 'running' && host !== undefined) {
      ports[inst.enginePortKey] = [{ HostIp: '0.0.0.0', HostPort: String(host.enginePort) }];
      ports['22/tcp'] = [{ HostIp: '0.0.0.0', HostPort: String(host.sshPort) }];
    }
    const startDate = inst.createdAtMs / 1_000;
    return {
      id: inst.id,
      machine_id: o.machine_id,
      host_id: o.host_id,
      bundle_id: o.id,
      actual_status,
      intended_status: 'running',
      cur_state: 'running',
      next_state: 'running',
      status_msg,
      label: inst.label,
      image_uuid: inst.image,
      image_args: [],
      image_runtype: inst.runtype,
      extra_env: Object.entries(inst.env),
      onstart: inst.onstart,
      ssh_host: host === undefined ? null : '127.0.0.1',
      ssh_port: host === undefined ? null : host.sshPort,
      ssh_idx: '1',
      public_ipaddr: '127.0.0.1',
      local_ipaddrs: '127.0.0.1\n',
      ports,
      direct_port_start: -1,
      direct_port_end: -1,
      direct_port_count: o.direct_port_count,
      gpu_name: o.gpu_name,
      num_gpus: o.num_gpus,
      gpu_ram: o.gpu_ram,
      gpu_totalram: o.gpu_ram * o.num_gpus,
      gpu_util: null,
      gpu_temp: null,
      cuda_max_good: o.cuda_max_good,
      driver_version: o.driver_version,
      disk_space: inst.disk,
      dph_total: o.dph_total,
      reliability2: o.reliability2,
      inet_up: o.inet_up,
      inet_down: o.inet_down,
      geolocation: o.geolocation,
      start_date: startDate,
      end_date: startDate + 30 * 86_400,
      uptime_mins: actual_status === 'running' ? Math.floor((this.opts.now() - inst.createdAtMs) / 60_000) : null,
      template_id: null,
      template_hash_id: null,
      template_name: null,
    };
  }
}

/** Vast's env: an object, or a Docker-flag string (`-e K=V -p 8000:8000`, parsed like vast.py `parse_env`). */
export function envObject(env: VastCreateRequestWire['env']): Record<string, string> {
  if (env == null) return {};
  if (typeof env !== 'string') return { ...env };
  const out: Record<string, string> = {};
  const words = env.trim().split(/\s+/).filter((w) => w !== '');
  for (let i = 0; i < words.length; i++) {
    const flag = words[i] as string;
    const arg = words[i + 1];
    if (flag === '-e' && arg !== undefined) {
      const eq = arg.indexOf('=');
      if (eq > 0) out[arg.slice(0, eq)] = arg.slice(eq + 1);
      i++;
    } else if ((flag === '-p' || flag === '-v' || flag === '-n') && arg !== undefined) {
      out[`${flag} ${arg}`] = '1';
      i++;
    } else if (flag === '-h' && arg !== undefined) {
      out['-h'] = arg;
      i++;
    }
  }
  return out;
}

/** The container port of the engine: the first TCP `-p N:N` mapping other than SSH, else 8000. */
export function enginePortKey(env: Record<string, string>): string {
  for (const key of Object.keys(env)) {
    const m = /^-p (\d+):(\d+)(\/tcp)?$/.exec(key);
    if (m !== null && m[2] !== '22') return `${m[2]}/tcp`;
  }
  return '8000/tcp';
}
