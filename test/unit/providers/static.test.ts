import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LaunchSpecSchema, type ProbeResult } from '../../../src/protocols/index.js';
import type { ProbeExecutor, ProbeRequest } from '../../../src/probes/types.js';
import { ProviderError, StaticProvider, loadFleetFile, type FleetFile, type StaticHostTarget } from '../../../src/providers/index.js';
import { STATIC_STOP_COMMAND, launchCommand } from '../../../src/providers/static.js';

const MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';
const FLEET: FleetFile = {
  hosts: [
    { id: 'box-a', ssh: { host: '10.0.0.1', port: 22, user: 'root' }, gpu_name: 'RTX 4090', gpu_ram_mb: 24564, num_gpus: 1, price_per_hour: 0.2 },
    { id: 'box-b', ssh: { host: '10.0.0.2', port: 2222, user: 'gpu' }, gpu_name: 'RTX 3060', gpu_ram_mb: 12288, num_gpus: 1 },
  ],
};

type Outcome = Partial<ProbeResult> | 'throw';

/** An executor per host that records what it ran; the next outcomes can be scripted. */
class FakeExecutors {
  readonly runs: Array<{ host: string; req: ProbeRequest }> = [];
  readonly opened: StaticHostTarget[] = [];
  closed = 0;
  private readonly outcomes: Outcome[] = [];

  next(...o: Outcome[]): void {
    this.outcomes.push(...o);
  }

  readonly factory = (target: StaticHostTarget): ProbeExecutor => {
    this.opened.push(target);
    return {
      run: (req) => {
        this.runs.push({ host: target.id, req });
        const o = this.outcomes.shift() ?? {};
        if (o === 'throw') return Promise.reject(new Error('executor defect'));
        return Promise.resolve({ name: req.name, command: req.command, ok: true, transport_ok: true, exit_code: 0, stdout: '', stderr: '', duration_ms: 1, ...o });
      },
      close: () => {
        this.closed++;
        return Promise.resolve();
      },
      disconnect: () => Promise.resolve(),
    };
  };
}

function setup(): { provider: StaticProvider; execs: FakeExecutors } {
  const execs = new FakeExecutors();
  const provider = new StaticProvider(FLEET, { executorFor: execs.factory, logger: pino({ level: 'silent' }), now: () => 1_700_000_000_000 });
  return { provider, execs };
}

const launch = LaunchSpecSchema.parse({ env: { HF_TOKEN: "hf_'x" }, engine_args: ['--max-model-len', '2048'] });

describe('static provider', () => {
  it('static provider - one offer per free host, filtered by the query', async () => {
    const { provider } = setup();
    const all = await provider.searchOffers({});
    expect(all.map((o) => o.offer_id)).toEqual(['box-a', 'box-b']);
    expect(all[0]).toEqual({
      offer_id: 'box-a',
      provider_host_id: 'box-a',
      machine_id: 'box-a',
      gpu_name: 'RTX 4090',
      num_gpus: 1,
      gpu_ram_mb: 24564,
      reliability: 1,
      dph_total: 0.2,
      direct_port_count: 64,
      verified: true,
      rentable: true,
    });
    expect(all[1]?.dph_total).toBe(0);
    expect((await provider.searchOffers({ min_gpu_ram_mb: 16_000 })).map((o) => o.offer_id)).toEqual(['box-a']);
    expect((await provider.searchOffers({ gpu_names: ['RTX 3060'] })).map((o) => o.offer_id)).toEqual(['box-b']);
    expect((await provider.searchOffers({ max_dph: 0.1 })).map((o) => o.offer_id)).toEqual(['box-b']);
    expect(await provider.searchOffers({ limit: 1 })).toHaveLength(1);
  });

  it('static provider - create launches over SSH, describe and list see the host, search does not', async () => {
    const { provider, execs } = setup();
    const [offer] = await provider.searchOffers({ gpu_names: ['RTX 3060'] });
    const { instance_id } = await provider.create(offer!, launch, 'drover-p1-a', MODEL);
    expect(instance_id).toBe('static-box-b');
    expect(execs.opened).toEqual([{ id: 'box-b', host: '10.0.0.2', port: 2222, user: 'gpu' }]);
    expect(execs.runs).toHaveLength(1);
    expect(execs.runs[0]?.req.command).toBe(
      `export VLLM_HTTP_TIMEOUT_KEEP_ALIVE=60\nexport HF_TOKEN='hf_'\\''x'\nnohup vllm serve ${MODEL} --host 0.0.0.0 --port 8000 --max-model-len 2048 > /tmp/vllm.log 2>&1 &`,
    );
    expect(execs.runs[0]?.req.command).toBe(launchCommand(launch, MODEL));
    expect(execs.closed).toBe(1);

    expect(await provider.describe(instance_id)).toEqual({
      instance_id: 'static-box-b',
      label: 'drover-p1-a',
      provider_host_id: 'box-b',
      machine_id: 'box-b',
      status: 'running',
      ssh: { host: '10.0.0.2', port: 2222, user: 'gpu' },
      public_ip: '10.0.0.2',
      ports: { '8000/tcp': { host: '10.0.0.2', port: 8000 } },
      gpu_name: 'RTX 3060',
      dph_total: 0,
      start_date: 1_700_000_000,
    });
    expect((await provider.listByLabel('drover-p1-')).map((i) => i.instance_id)).toEqual(['static-box-b']);
    expect(await provider.listByLabel('drover-p2-')).toEqual([]);
    expect((await provider.searchOffers({})).map((o) => o.offer_id)).toEqual(['box-a']);
    await expect(provider.create(offer!, launch, 'drover-p1-b', MODEL)).rejects.toMatchObject({ kind: 'offer_taken' });
  });

  it('static provider - destroy stops the engine and frees the host; it is idempotent', async () => {
    const { provider, execs } = setup();
    const [offer] = await provider.searchOffers({});
    const { instance_id } = await provider.create(offer!, launch, 'drover-p1-a', MODEL);
    await provider.destroy(instance_id);
    expect(execs.runs.map((r) => r.req.command)[1]).toBe(STATIC_STOP_COMMAND);
    expect(STATIC_STOP_COMMAND).toContain("pkill -f '[v]llm serve'");
    expect(await provider.describe(instance_id)).toBeUndefined();
    expect((await provider.searchOffers({})).map((o) => o.offer_id)).toEqual(['box-a', 'box-b']);
    await provider.destroy(instance_id);
    await provider.destroy('static-nope');
    await provider.destroy('12345');
    expect(execs.runs).toHaveLength(2);
  });

  it('static provider - a launch that fails frees the host with a typed error', async () => {
    const { provider, execs } = setup();
    const [offer] = await provider.searchOffers({});
    execs.next({ ok: false, transport_ok: false, failure_kind: 'transport', error: 'ECONNREFUSED' });
    await expect(provider.create(offer!, launch, 'l', MODEL)).rejects.toMatchObject({ kind: 'network' });
    execs.next({ ok: false, transport_ok: true, failure_kind: 'command', exit_code: 127, stderr: 'nohup: vllm: not found' });
    const err = await provider.create(offer!, launch, 'l', MODEL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'rejected', message: expect.stringContaining('vllm: not found') });
    execs.next('throw');
    await expect(provider.create(offer!, launch, 'l', MODEL)).rejects.toThrow('executor defect');
    expect((await provider.searchOffers({})).map((o) => o.offer_id)).toContain('box-a');
    expect(execs.closed).toBe(3);
    expect(await provider.listByLabel('')).toEqual([]);
  });

  it('static provider - a stop that cannot reach the host keeps it in use', async () => {
    const { provider, execs } = setup();
    const [offer] = await provider.searchOffers({});
    const { instance_id } = await provider.create(offer!, launch, 'l', MODEL);
    execs.next({ ok: false, transport_ok: false, failure_kind: 'transport', error: 'handshake timeout' });
    await expect(provider.destroy(instance_id)).rejects.toMatchObject({ kind: 'network' });
    expect(await provider.describe(instance_id)).toBeDefined();
    await provider.destroy(instance_id);
    expect(await provider.describe(instance_id)).toBeUndefined();
  });

  it('static provider - an unknown offer is refused', async () => {
    const { provider } = setup();
    const [offer] = await provider.searchOffers({});
    await expect(provider.create({ ...offer!, provider_host_id: 'ghost' }, launch, 'l', MODEL)).rejects.toMatchObject({ kind: 'offer_taken' });
  });
});

describe('static provider - fleet file', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('static provider - YAML fleet files load with defaults; duplicates are refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-fleet-'));
    dirs.push(dir);
    const good = join(dir, 'fleet.yaml');
    await writeFile(good, 'hosts:\n  - id: gpu1\n    ssh: { host: 192.0.2.10 }\n    gpu_name: RTX 4090\n    gpu_ram_mb: 24564\n');
    const fleet = await loadFleetFile(good);
    expect(fleet.hosts[0]).toEqual({ id: 'gpu1', ssh: { host: '192.0.2.10', port: 22, user: 'root' }, gpu_name: 'RTX 4090', gpu_ram_mb: 24564, num_gpus: 1 });
    const provider = await StaticProvider.fromFile(good, { executorFor: new FakeExecutors().factory, logger: pino({ level: 'silent' }) });
    expect(await provider.searchOffers({})).toHaveLength(1);

    const dup = join(dir, 'dup.json');
    await writeFile(dup, JSON.stringify({ hosts: [FLEET.hosts[0], FLEET.hosts[0]] }));
    await expect(loadFleetFile(dup)).rejects.toThrow(/unique/);
  });
});
