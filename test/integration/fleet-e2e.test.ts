/**
 * The fleet end to end against the simulated marketplace: each test drives a HostActor into one
 * outcome and checks the pool's reaction (blacklist or not, destroy, replacement, budget), through
 * a whole Drover process with real nats-server, real SSH (ssh2 client against simulated hosts) and
 * simulated vLLM engines.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { blacklistEntries, fleetConfig, hostRecords, offer, poolView, scenarioFile, TINY } from '../helpers/fleet.js';
import { postJson, readSse } from '../helpers/sse.js';

let drover: TestDrover | undefined;
afterEach(async () => {
  await drover?.close();
  drover = undefined;
});

const WAIT = { timeout: 60_000, interval: 100 };

async function start(offers: Parameters<typeof scenarioFile>[0], pool: Record<string, unknown> = {}, fleet: Record<string, unknown> = {}): Promise<TestDrover> {
  drover = await startTestDrover(fleetConfig(await scenarioFile(offers), pool, fleet), undefined, { waitReady: false });
  return drover;
}

async function readyReplicaHost(d: TestDrover): Promise<string | undefined> {
  const view = await poolView(d);
  const replica = view?.replicas.find((r) => r.health === 'ready');
  if (replica === undefined) return undefined;
  return (await hostRecords(d)).find((h) => h.host_id === replica.replica_id)?.provider_host_id;
}

async function streamOne(d: TestDrover, maxTokens = 4) {
  const res = await postJson(`${d.httpUrl}/v2/tasks`, { model: TINY, prompt: 'hello', max_tokens: maxTokens });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return (await readSse(`${d.httpUrl}/v2/tasks/${String(res.body?.task_id)}/events`)).events;
}

describe('fleet - reactions per failure class', () => {
  it('blacklists an infra-fatal host with evidence, destroys it, and becomes ready on another host', async () => {
    const d = await start([offer(1, 'gpu_fallen_off', 0.2), offer(2, 'healthy', 0.3)]);
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('102');
    const bad = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(bad?.state).toBe('failed');
    expect(bad?.failure?.class).toBe('INFRA_FATAL');
    const entry = (await blacklistEntries(d)).find((e) => e.provider_host_id === '101');
    expect(entry).toMatchObject({ scope: 'global' });
    expect(entry?.evidence ?? '').toMatch(/device handle|GPU is lost|fallen off|No CUDA GPUs/i);
    // The bad instance is gone from the marketplace; only the good one is rented.
    const market = d.fleet?.marketplace;
    expect(market?.instances().map((i) => i.host_id)).toEqual([102]);
    const events = await streamOne(d);
    expect(events.at(-1)?.event).toBe('end');
    // What an operator's dashboard sees.
    const metrics = await (await request(`${d.httpUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/^drover_blacklist_size\{scope="global"\} 1$/m);
    expect(metrics).toMatch(/^drover_provisioning_outcomes_total\{pool_id="gpu",outcome="INFRA_FATAL"\} 1$/m);
    expect(metrics).toMatch(/^drover_provisioning_outcomes_total\{pool_id="gpu",outcome="ready"\} 1$/m);
    expect(metrics).toMatch(/^drover_hosts\{pool_id="gpu",state="ready"\} 1$/m);
    expect(metrics).toMatch(/^drover_host_stage_seconds_count\{stage="generation"\} [1-9]/m);
    const spend = /^drover_spend_dollars\{pool_id="gpu"\} (\S+)$/m.exec(metrics);
    expect(Number(spend?.[1])).toBeGreaterThan(0);
  });

  it('does not blacklist on a workload-fatal failure and stops spending once the budget is spent', async () => {
    const d = await start(
      [offer(1, 'healthy', 0.2), offer(2, 'healthy', 0.3), offer(3, 'healthy', 0.4), offer(4, 'healthy', 0.5)],
      { model: 'acme/does-not-exist-7b', failure_budget: { max_failures: 1, within_ms: 3_600_000 } },
    );
    await expect.poll(async () => (await poolView(d))?.state, WAIT).toBe('failed');
    const view = await poolView(d);
    expect(view?.reason ?? '').toMatch(/budget|WORKLOAD_FATAL|workload/i);
    expect(await blacklistEntries(d)).toEqual([]);
    const failed = (await hostRecords(d)).filter((h) => h.state === 'failed');
    expect(failed.length).toBe(2);
    for (const h of failed) {
      expect(h.failure?.class).toBe('WORKLOAD_FATAL');
      expect(h.failure?.evidence ?? '').toMatch(/Repository Not Found|Invalid repository ID|RepositoryNotFoundError/);
    }
    // No further spending: nothing is rented and nothing new gets rented.
    await expect.poll(() => d.fleet?.marketplace?.instances().length, WAIT).toBe(0);
    expect(d.fleet?.marketplace?.offers().filter((o) => o.rented).length).toBe(0);
    const res = await postJson(`${d.httpUrl}/v2/tasks`, { model: 'acme/does-not-exist-7b', prompt: 'x' });
    expect(res.status).toBe(503);
  });

  it('waits out a slow but progressing warm-up and becomes ready', async () => {
    const d = await start([offer(1, 'slow_warmup', 0.2)], {}, {
      stage_deadlines_ms: { instance_running: 10_000, ssh: 3_000, executor: 3_000, gpu: 3_000, engine_process: 1_500, port_bound: 1_500, model_listed: 3_000, generation: 3_000 },
    });
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('101');
    const rec = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(rec?.transitions.map((t) => t.to)).toEqual(expect.arrayContaining(['provisioning', 'booting', 'warming', 'ready']));
  });

  it('fails a host that stops making progress past the stage deadline, and replaces it', async () => {
    const d = await start([offer(1, 'hangs', 0.2), offer(2, 'healthy', 0.3)], {}, {
      stage_deadlines_ms: { instance_running: 10_000, ssh: 3_000, executor: 3_000, gpu: 3_000, engine_process: 1_500, port_bound: 1_500, model_listed: 1_500, generation: 3_000 },
    });
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('102');
    const hung = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(hung?.state).toBe('failed');
    expect(hung?.failure?.reason ?? '').toMatch(/progress|deadline/i);
    expect(hung?.failure?.evidence.length).toBeGreaterThan(0);
    // No fatal evidence in the log: the host is replaced but not blacklisted.
    expect(hung?.failure?.class).toBe('UNKNOWN');
    expect((await blacklistEntries(d)).filter((e) => e.provider_host_id === '101')).toEqual([]);
  });

  it('fails a host whose executor sanity probe cannot be trusted as UNKNOWN, never blacklisting it', async () => {
    const d = await start([offer(1, 'broken_shell', 0.2), offer(2, 'healthy', 0.3)], {}, {
      stage_deadlines_ms: { instance_running: 10_000, ssh: 3_000, executor: 1_500, gpu: 3_000, engine_process: 4_000, port_bound: 4_000, model_listed: 4_000, generation: 4_000 },
    });
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('102');
    const broken = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(broken?.state).toBe('failed');
    expect(broken?.failure).toMatchObject({ class: 'UNKNOWN', stage: 'executor' });
    expect(broken?.failure?.evidence ?? '').toContain('executor');
    expect(await blacklistEntries(d)).toEqual([]);
  });

  it('fails a host at once when its instance vanishes at the provider while it warms', async () => {
    const d = await start([offer(1, 'slow_warmup', 0.2), offer(2, 'healthy', 0.3)], {}, { sim_time_scale: 0.1 });
    await expect.poll(async () => (await hostRecords(d)).find((h) => h.provider_host_id === '101')?.state, WAIT).toBe('warming');
    const instance = (await hostRecords(d)).find((h) => h.provider_host_id === '101')?.instance_id;
    expect(instance).toBeDefined();
    // Gone behind our back (host reclaimed, outbid, deleted by hand).
    await d.fleet?.provider.destroy(instance!);
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('102');
    const gone = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(gone?.failure).toMatchObject({ class: 'INFRA_FATAL' });
    expect(gone?.failure?.reason).toMatch(/disappeared|exited/);
  });

  it('replaces a ready host that dies while serving, and its task ends retriably or moves on', { timeout: 90_000 }, async () => {
    // Slower time so the dying host serves for a few seconds before it dies.
    const d = await start([offer(1, 'dies_while_serving', 0.2), offer(2, 'healthy', 0.3)], {}, { sim_time_scale: 0.15 });
    await expect.poll(() => readyReplicaHost(d), WAIT).toBe('101');
    // Tasks keep flowing while the host dies: each ends with `end`, or with a retriable error.
    const outcomes: string[] = [];
    await expect.poll(async () => {
      const events = await streamOne(d, 50);
      const last = events.at(-1);
      outcomes.push(last?.event === 'error' ? String(last.data.code) : String(last?.event));
      if (last?.event === 'error') expect(last.data.retriable).toBe(true);
      return readyReplicaHost(d);
    }, WAIT).toBe('102');
    const dead = (await hostRecords(d)).find((h) => h.provider_host_id === '101');
    expect(dead?.state).toBe('failed');
    expect(dead?.failure?.class).not.toBe('WORKLOAD_FATAL');
    expect(dead?.transitions.map((t) => t.to)).toContain('ready');
    const events = await streamOne(d);
    expect(events.at(-1)?.event).toBe('end');
  });

  it('queues tasks while a pool has no ready replica yet, and runs them once it has', async () => {
    const d = await start([offer(1, 'healthy', 0.2)]);
    const res = await postJson(`${d.httpUrl}/v2/tasks`, { model: TINY, prompt: 'early', max_tokens: 3 });
    expect(res.status).toBe(202);
    const { events } = await readSse(`${d.httpUrl}/v2/tasks/${String(res.body?.task_id)}/events`);
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'token', 'end']);
  });
});
