/**
 * In-memory ports for actor tests of the fleet (HostActor, fleet PoolActor) under a virtual clock:
 * a provider whose instances are always running, an executor and a readiness adapter that pass, an
 * engine whose answers the test sets and which records the calls of each check, KV stores and a bus
 * that records what it publishes.
 */
import type { EngineAdapter, EngineCheck, EngineChunk, EngineHealth } from '../../src/engines/index.js';
import type { ProbeExecutor, ProbeRequest, ReadinessAdapter } from '../../src/probes/index.js';
import type { EngineLoad, InstanceInfo, Offer, ProbeResult } from '../../src/protocols/index.js';
import type { Provider } from '../../src/providers/index.js';
import type { Bus, KvStore } from '../../src/transport/index.js';

/** Waits, turn by turn, until `cond` holds; fails instead of hanging. */
export async function until(cond: () => boolean, what: string, turns = 5_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A probe result that passed, with `out` laid over it. */
export function probeResult(req: ProbeRequest, out: Partial<ProbeResult> = {}): ProbeResult {
  return { name: req.name, command: req.command, ok: true, transport_ok: true, exit_code: 0, stdout: '', stderr: '', duration_ms: 1, ...out };
}

export const IDLE_LOAD: EngineLoad = { running: 0, waiting: 0, kv_usage: 0 };

/** An engine whose answers the test sets; `calls` records what each check asked for. */
export class ScriptedEngine implements EngineAdapter {
  readonly kind = 'vllm' as const;
  readonly calls: string[] = [];
  /** What `/health` does. */
  health503: 'up' | '503' | 'refused' = 'up';
  load_: EngineLoad = IDLE_LOAD;

  constructor(
    readonly baseUrl: string,
    public models: string[],
  ) {}

  async health(): Promise<EngineHealth> {
    this.calls.push('health+models');
    if (this.health503 === 'refused') return { live: false, ready: false, models: [], error: 'connect ECONNREFUSED' };
    if (this.health503 === '503') return { live: true, ready: false, models: [], error: '/health answered 503' };
    return { live: true, ready: true, models: this.models };
  }

  async load(): Promise<EngineLoad> {
    this.calls.push('metrics');
    return this.load_;
  }

  async check(): Promise<EngineCheck> {
    this.calls.push('health+metrics');
    if (this.health503 === 'refused') return { live: false, healthy: false, error: 'connect ECONNREFUSED' };
    if (this.health503 === '503') return { live: true, healthy: false, error: '/health answered 503' };
    return { live: true, healthy: true, load: this.load_ };
  }

  stream(): AsyncIterable<readonly EngineChunk[]> {
    throw new Error('not used');
  }

  async close(): Promise<void> {}
}

/** An offer on provider host `host`. */
export function fakeOffer(host: number, dph = 0.3): Offer {
  return {
    offer_id: `o${host}`, provider_host_id: String(host), machine_id: `m${host}`, gpu_name: 'RTX 4090', num_gpus: 1, gpu_ram_mb: 24_564,
    reliability: 0.99, dph_total: dph, direct_port_count: 40, verified: true, rentable: true,
  };
}

/** A provider whose instances run at once, each with SSH and engine port `18000 + n`. */
export class FakeProvider implements Provider {
  readonly name = 'vast' as const;
  readonly destroyed: string[] = [];
  private readonly instances = new Map<string, InstanceInfo>();

  constructor(private readonly offers: Offer[] = []) {}

  async searchOffers(): Promise<Offer[]> {
    return this.offers;
  }

  async create(offer: Offer, _launch: unknown, label: string): Promise<{ instance_id: string }> {
    const n = this.instances.size + 1;
    const id = `i-${n}`;
    this.instances.set(id, {
      instance_id: id,
      label,
      provider_host_id: offer.provider_host_id,
      status: 'running',
      ssh: { host: '127.0.0.1', port: 2200 + n, user: 'root' },
      ports: { '8000/tcp': { host: '127.0.0.1', port: 18000 + n } },
    });
    return { instance_id: id };
  }

  async describe(id: string): Promise<InstanceInfo | undefined> {
    return this.instances.get(id);
  }

  async listByLabel(prefix: string): Promise<InstanceInfo[]> {
    return [...this.instances.values()].filter((i) => i.label?.startsWith(prefix) === true);
  }

  async destroy(id: string): Promise<void> {
    this.destroyed.push(id);
    this.instances.delete(id);
  }
}

/** An in-memory KV store; `rows` shows its content synchronously. */
export function memoryKv<T>(bucket: string): KvStore<T> & { rows: ReadonlyMap<string, { value: T; revision: number }> } {
  const rows = new Map<string, { value: T; revision: number }>();
  let revision = 0;
  return {
    rows,
    bucket,
    get: async (key) => rows.get(key),
    create: async (key, value) => (rows.has(key) ? undefined : (rows.set(key, { value, revision: ++revision }), revision)),
    update: async (key, value) => (rows.set(key, { value, revision: ++revision }), revision),
    put: async (key, value) => (rows.set(key, { value, revision: ++revision }), revision),
    delete: async (key) => void rows.delete(key),
    deleteAt: async (key) => rows.delete(key),
    keys: async () => [...rows.keys()],
    entries: async () => [...rows].map(([key, row]) => ({ key, ...row })),
  };
}

/** A bus that records what is published (request, serve and subscribe are not used by these actors). */
export function recordingBus(): { bus: Bus; published: Array<{ subject: string; payload: unknown }> } {
  const published: Array<{ subject: string; payload: unknown }> = [];
  const bus = {
    url: 'nats://fake',
    publish: (subject: string, payload: unknown) => void published.push({ subject, payload }),
    subscribe: () => ({ unsubscribe: async () => undefined }),
  } as unknown as Bus;
  return { bus, published };
}

/** An executor whose probes pass, except the answer `answer` gives for a probe. */
export function fakeExecutor(answer: (req: ProbeRequest) => Partial<ProbeResult> = () => ({})): ProbeExecutor {
  return {
    run: async (req) => probeResult(req, answer(req)),
    close: async () => undefined,
    disconnect: async () => undefined,
  };
}

/** A readiness adapter for which every stage passes at once. */
export const passingReadiness: ReadinessAdapter = { engine: 'vllm', observe: async (stage) => ({ stage, passed: true, probes: [], markers: [] }) };
