/**
 * StaticProvider: GPU hosts you own, listed in a fleet file and reached over SSH. "Renting" one
 * starts the engine on it with the same onstart script a Vast instance would run; "destroying"
 * stops the engine and frees the host. Which hosts are in use is kept in memory only.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { InstanceInfo, LaunchSpec, Offer, ProbeResult } from '../protocols/index.js';
import type { ProbeExecutor } from '../probes/types.js';
import { engineEnv, plainEnv, renderOnstart, shellQuote } from './launch.js';
import { ProviderError, type OfferQuery, type Provider } from './types.js';

/** One host of the fleet file. */
export const StaticHostSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'host ids are letters, digits, ".", "_" and "-"'),
  ssh: z.object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default('root'),
  }),
  gpu_name: z.string().min(1),
  gpu_ram_mb: z.number().positive(),
  num_gpus: z.number().int().positive().default(1),
  price_per_hour: z.number().nonnegative().optional(),
});
export type StaticHost = z.infer<typeof StaticHostSchema>;

/** The fleet file (YAML or JSON): `{ hosts: [...] }` with unique ids. */
export const FleetFileSchema = z
  .object({ hosts: z.array(StaticHostSchema) })
  .refine((f) => new Set(f.hosts.map((h) => h.id)).size === f.hosts.length, { message: 'host ids must be unique' });
export type FleetFile = z.infer<typeof FleetFileSchema>;

/** Reads and validates a fleet file (YAML or JSON). */
export async function loadFleetFile(path: string): Promise<FleetFile> {
  const text = await readFile(path, 'utf8');
  return FleetFileSchema.parse(parseYaml(text));
}

/** How the executor factory is told which host to reach. */
export interface StaticHostTarget {
  id: string;
  host: string;
  port: number;
  user: string;
}

/** Options of StaticProvider. */
export interface StaticProviderOptions {
  /** Opens an SSH executor to a host; it is closed after each operation. */
  executorFor: (host: StaticHostTarget) => ProbeExecutor;
  logger: Logger;
  /** Clock for `start_date` (ms). */
  now?: () => number;
  /** Timeout of the launch and stop commands. */
  commandTimeoutMs?: number;
}

/** The prefix of StaticProvider instance ids (`static-<host id>`). */
export const STATIC_INSTANCE_PREFIX = 'static-';
/** Stops the engine; `[v]llm` keeps pkill from matching the shell that runs it. */
export const STATIC_STOP_COMMAND = "pkill -f '[v]llm serve' || true";

interface Lease {
  label: string;
  port: number;
  startedAtMs: number;
  /** False while the launch command is still running. */
  started: boolean;
}

/** A Provider over hosts you own. */
export class StaticProvider implements Provider {
  readonly name = 'static' as const;
  private readonly hosts: ReadonlyMap<string, StaticHost>;
  private readonly leases = new Map<string, Lease>();
  private readonly executorFor: StaticProviderOptions['executorFor'];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(fleet: FleetFile, opts: StaticProviderOptions) {
    this.hosts = new Map(FleetFileSchema.parse(fleet).hosts.map((h) => [h.id, h]));
    this.executorFor = opts.executorFor;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.commandTimeoutMs ?? 60_000;
  }

  /** A StaticProvider over the hosts of a fleet file. */
  static async fromFile(path: string, opts: StaticProviderOptions): Promise<StaticProvider> {
    return new StaticProvider(await loadFleetFile(path), opts);
  }

  /**
   * One offer per free host that fits the query's GPU names, VRAM, GPU count and price; owned hosts
   * count as fully reliable with 64 direct ports.
   */
  async searchOffers(query: OfferQuery): Promise<Offer[]> {
    const names = query.gpu_names ?? [];
    const offers = [...this.hosts.values()]
      .filter((h) => !this.leases.has(h.id))
      .filter((h) => names.length === 0 || names.includes(h.gpu_name))
      .filter((h) => query.min_gpu_ram_mb === undefined || h.gpu_ram_mb >= query.min_gpu_ram_mb)
      .filter((h) => query.num_gpus === undefined || h.num_gpus === query.num_gpus)
      .filter((h) => query.max_dph === undefined || (h.price_per_hour ?? 0) <= query.max_dph)
      .map(toOffer);
    return query.limit === undefined ? offers : offers.slice(0, query.limit);
  }

  /** Starts the engine on the offer's host over SSH and marks the host in use. */
  async create(offer: Offer, launch: LaunchSpec, label: string, model: string): Promise<{ instance_id: string }> {
    const host = this.hosts.get(offer.provider_host_id);
    if (host === undefined) throw new ProviderError('offer_taken', `no host ${offer.provider_host_id} in the fleet file`);
    if (this.leases.has(host.id)) throw new ProviderError('offer_taken', `host ${host.id} is already in use`);
    const lease: Lease = { label, port: launch.port, startedAtMs: this.now(), started: false };
    this.leases.set(host.id, lease);
    const result = await this.run(host, 'launch', launchCommand(launch, model)).catch((err: unknown) => {
      this.leases.delete(host.id);
      throw err;
    });
    if (!result.ok) {
      this.leases.delete(host.id);
      throw commandFailure(host, 'launch', result);
    }
    lease.started = true;
    this.log.info({ host_id: host.id, label }, 'engine launched on owned host');
    return { instance_id: `${STATIC_INSTANCE_PREFIX}${host.id}` };
  }

  /** A host in use is `running`; any other id is gone. */
  async describe(instanceId: string): Promise<InstanceInfo | undefined> {
    const host = this.hostOf(instanceId);
    const lease = host === undefined ? undefined : this.leases.get(host.id);
    return host === undefined || lease?.started !== true ? undefined : toInstance(host, lease);
  }

  /** Hosts in use whose label starts with the prefix. */
  async listByLabel(labelPrefix: string): Promise<InstanceInfo[]> {
    const out: InstanceInfo[] = [];
    for (const [id, lease] of this.leases) {
      const host = this.hosts.get(id);
      if (host !== undefined && lease.started && lease.label.startsWith(labelPrefix)) out.push(toInstance(host, lease));
    }
    return out;
  }

  /**
   * Stops the engine over SSH and frees the host. An unknown or free host is a success; when SSH
   * fails the host stays in use (its engine may still run) and the error is thrown, so a retry can
   * finish the job.
   */
  async destroy(instanceId: string): Promise<void> {
    const host = this.hostOf(instanceId);
    if (host === undefined || !this.leases.has(host.id)) return;
    const result = await this.run(host, 'stop', STATIC_STOP_COMMAND);
    if (!result.ok) throw commandFailure(host, 'stop', result);
    this.leases.delete(host.id);
    this.log.info({ host_id: host.id }, 'engine stopped on owned host');
  }

  private hostOf(instanceId: string): StaticHost | undefined {
    if (!instanceId.startsWith(STATIC_INSTANCE_PREFIX)) return undefined;
    return this.hosts.get(instanceId.slice(STATIC_INSTANCE_PREFIX.length));
  }

  private async run(host: StaticHost, name: string, command: string): Promise<ProbeResult> {
    const exec = this.executorFor({ id: host.id, ...host.ssh });
    try {
      return await exec.run({ name, command, timeoutMs: this.timeoutMs });
    } finally {
      await exec.close().catch((err: unknown) => this.log.debug({ host_id: host.id, err }, 'closing the executor failed'));
    }
  }
}

/** The shell text that starts the engine: env exports, then the rendered onstart script. */
export function launchCommand(launch: LaunchSpec, model: string): string {
  const exports = Object.entries(plainEnv(engineEnv(launch)))
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`);
  return [...exports, renderOnstart(launch, model)].join('\n');
}

function toOffer(h: StaticHost): Offer {
  return {
    offer_id: h.id,
    provider_host_id: h.id,
    machine_id: h.id,
    gpu_name: h.gpu_name,
    num_gpus: h.num_gpus,
    gpu_ram_mb: h.gpu_ram_mb,
    reliability: 1,
    dph_total: h.price_per_hour ?? 0,
    direct_port_count: 64,
    verified: true,
    rentable: true,
  };
}

function toInstance(h: StaticHost, lease: Lease): InstanceInfo {
  return {
    instance_id: `${STATIC_INSTANCE_PREFIX}${h.id}`,
    label: lease.label,
    provider_host_id: h.id,
    machine_id: h.id,
    status: 'running',
    ssh: { host: h.ssh.host, port: h.ssh.port, user: h.ssh.user },
    public_ip: h.ssh.host,
    ports: { [`${lease.port}/tcp`]: { host: h.ssh.host, port: lease.port } },
    gpu_name: h.gpu_name,
    dph_total: h.price_per_hour ?? 0,
    start_date: lease.startedAtMs / 1_000,
  };
}

function commandFailure(h: StaticHost, what: string, r: ProbeResult): ProviderError {
  const detail = r.error ?? (r.stderr.trim().slice(-300) || `exit ${r.exit_code ?? r.signal ?? '?'}`);
  if (!r.transport_ok) return new ProviderError('network', `static host ${h.id}: ${what} failed to reach the host: ${detail}`);
  return new ProviderError('rejected', `static host ${h.id}: ${what} command failed (${r.failure_kind ?? 'command'}): ${detail}`);
}
