import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LaunchSpecSchema, type Offer } from '../../src/protocols/index.js';
import { ProviderError, VastProvider, type VastProviderOptions } from '../../src/providers/index.js';
import type { SimContainerStatus, SimHost, SimHostSpec } from '../../src/sim/host-types.js';
import { startSimMarketplace } from '../../src/sim/marketplace.js';
import type { SimMarketplace } from '../../src/sim/marketplace-types.js';
import { HOST_START_FAILURE_PREFIX, PHASE_MS } from '../../src/sim/marketplace-state.js';
import { ScenarioSchema, type ScenarioOfferInput } from '../../src/sim/scenario.js';

const API_KEY = 'test-key-0123456789abcdef';
const MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';
const TIME_SCALE = 0.01;
const UP_AFTER_MS = (PHASE_MS.provisioning + PHASE_MS.created) * TIME_SCALE;

/** A host that is only an API-layer stand-in: fixed ports and a status the test sets. */
class StubHost implements SimHost {
  state: SimContainerStatus = { actual_status: 'loading', status_msg: 'starting the engine' };
  closed = false;
  constructor(
    readonly spec: SimHostSpec,
    readonly sshPort: number,
    readonly enginePort: number,
  ) {}
  get instanceId(): string {
    return this.spec.instance_id;
  }
  get profile(): SimHost['profile'] {
    return this.spec.profile;
  }
  status(): SimContainerStatus {
    return this.state;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function offer(id: number, extra: Partial<ScenarioOfferInput> = {}): ScenarioOfferInput {
  return { id, host_id: 500 + id, machine_id: 900 + id, gpu_name: 'RTX 3090', gpu_ram: 24576, reliability2: 0.99, dph_total: 0.1 + id / 1000, direct_port_count: 16, ...extra };
}

const SCENARIO = ScenarioSchema.parse({
  offers: [
    offer(1, { gpu_name: 'RTX 4090', gpu_ram: 24564, dph_total: 0.3, reliability2: 0.999, direct_port_count: 40 }),
    offer(2, { gpu_name: 'RTX 3060', gpu_ram: 12288, dph_total: 0.05, reliability2: 0.97 }),
    offer(3, { gpu_name: 'RTX 3080', gpu_ram: 10240, dph_total: 0.07, direct_port_count: 4 }),
    offer(4, { verified: false, dph_total: 0.01 }),
    offer(5, { profile: 'container_fail', dph_total: 0.2 }),
    offer(6, { num_gpus: 2, dph_total: 0.6 }),
    // Plenty of identical offers for the pagination test.
    ...Array.from({ length: 34 }, (_, i) => offer(100 + i, { gpu_name: 'RTX A4000', gpu_ram: 16376, dph_total: 0.5 })),
  ],
});

const launch = LaunchSpecSchema.parse({ env: { HF_TOKEN: 'hf_x' }, engine_args: ['--max-model-len', '2048'] });

let clock = 1_700_000_000_000;
let market: SimMarketplace;
const hosts: StubHost[] = [];
const logLines: string[] = [];
let logger: Logger;
const delays: number[] = [];

function provider(over: Partial<VastProviderOptions> = {}): VastProvider {
  return new VastProvider({
    apiUrl: market.url,
    apiKey: API_KEY,
    logger,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    ...over,
  });
}

async function offerById(p: VastProvider, id: number): Promise<Offer> {
  const found = (await p.searchOffers({ limit: 1000 })).find((o) => o.offer_id === String(id));
  if (found === undefined) throw new Error(`offer ${id} not listed`);
  return found;
}

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  logger = pino({ level: 'debug' }, sink);
  let port = 20_000;
  market = await startSimMarketplace({
    scenario: SCENARIO,
    apiKey: API_KEY,
    authorizedKeys: ['ssh-ed25519 AAAA test'],
    timeScale: TIME_SCALE,
    logger,
    now: () => clock,
    hostFactory: (spec) => {
      if (spec.profile === 'container_fail') return Promise.reject(new Error('OCI runtime create failed: runc create failed'));
      const host = new StubHost(spec, port++, port++);
      hosts.push(host);
      return Promise.resolve(host);
    },
  });
});

afterAll(async () => {
  await market.close();
  expect(hosts.every((h) => h.closed)).toBe(true);
  expect(logLines.join('')).not.toContain(API_KEY);
});

afterEach(async () => {
  market.faults.rateLimitEvery = 0;
  delays.length = 0;
  // Each test starts with every offer free.
  const p = provider();
  for (const i of market.instances()) await p.destroy(i.instance_id);
});

describe('vast provider - search', () => {
  it('vast provider - search applies the default filters and the query server-side, cheapest first', async () => {
    const p = provider();
    const all = await p.searchOffers({ limit: 1000 });
    expect(all.map((o) => o.offer_id)).not.toContain('4'); // unverified
    expect(all.map((o) => Number(o.dph_total))).toEqual([...all.map((o) => o.dph_total)].sort((a, b) => a - b));
    const balanced = await p.searchOffers({ num_gpus: 1, min_reliability: 0.98, min_direct_ports: 8, min_gpu_ram_mb: 12_000, max_dph: 0.4, limit: 3 });
    expect(balanced.map((o) => o.offer_id)).toEqual(['5', '1']);
    expect(balanced[1]).toMatchObject({ provider_host_id: '501', machine_id: '901', gpu_name: 'RTX 4090', gpu_ram_mb: 24564, reliability: 0.999, direct_port_count: 40, verified: true, rentable: true });
    expect((await p.searchOffers({ gpu_names: ['RTX 3060', 'RTX 3080'] })).map((o) => o.offer_id)).toEqual(['2', '3']);
    expect(await p.searchOffers({ num_gpus: 2 })).toHaveLength(1);
    expect(await p.searchOffers({ limit: 2 })).toHaveLength(2);
  });

  it('vast provider - the new search endpoint and ?api_key= answer too', async () => {
    const res = await fetch(`${market.url}/api/v0/search/asks/?api_key=${API_KEY}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ select_cols: ['id', 'dph_total'], q: { gpu_name: { eq: 'RTX 4090' }, rented: { eq: false } } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, offers: [{ id: 1, dph_total: 0.3 }] });
    const bad = await fetch(`${market.url}/api/v0/bundles/`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: JSON.stringify({ gpu_nam: { eq: 'x' } }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ success: false, error: 'invalid_args' });
  });
});

describe('vast provider - instances', () => {
  it('vast provider - create, then describe through null → created → loading → running', async () => {
    const p = provider();
    const o = await offerById(p, 1);
    const { instance_id } = await p.create(o, launch, 'drover-life-1', MODEL);
    expect(market.offers().find((x) => x.id === 1)?.rented).toBe(true);
    expect((await p.searchOffers({ limit: 1000 })).map((x) => x.offer_id)).not.toContain('1');

    const host = hosts[hosts.length - 1]!;
    expect(host.spec).toEqual({
      instance_id,
      profile: 'healthy',
      gpu_name: 'RTX 4090',
      gpu_ram_mb: 24564,
      onstart: `nohup vllm serve ${MODEL} --host 0.0.0.0 --port 8000 --max-model-len 2048 > /tmp/vllm.log 2>&1 &`,
      // Drover's engine keep-alive rides along with the pool's own env.
      env: { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '60', HF_TOKEN: 'hf_x' },
      authorizedKeys: ['ssh-ed25519 AAAA test'],
      timeScale: TIME_SCALE,
    });

    const start = clock;
    const first = await p.describe(instance_id);
    expect(first).toMatchObject({ instance_id, label: 'drover-life-1', provider_host_id: '501', machine_id: '901', status: 'provisioning', ports: {}, gpu_name: 'RTX 4090', dph_total: 0.3 });
    expect(first?.ssh).toEqual({ host: '127.0.0.1', port: host.sshPort, user: 'root' });
    clock = start + PHASE_MS.provisioning * TIME_SCALE;
    expect((await p.describe(instance_id))?.status).toBe('created');
    clock = start + UP_AFTER_MS;
    expect(await p.describe(instance_id)).toMatchObject({ status: 'loading', status_msg: 'starting the engine', ports: {} });
    host.state = { actual_status: 'running', status_msg: 'success, running vllm/vllm-openai:latest/ssh' };
    const up = await p.describe(instance_id);
    expect(up).toMatchObject({
      status: 'running',
      ssh: { host: '127.0.0.1', port: host.sshPort, user: 'root' },
      public_ip: '127.0.0.1',
      ports: { '8000/tcp': { host: '127.0.0.1', port: host.enginePort }, '22/tcp': { host: '127.0.0.1', port: host.sshPort } },
    });
    host.state = { actual_status: 'exited', status_msg: 'engine died' };
    expect(await p.describe(instance_id)).toMatchObject({ status: 'exited', status_msg: 'engine died', ports: {} });
  });

  it('vast provider - a host that cannot start ends exited with a daemon error', async () => {
    const p = provider();
    const { instance_id } = await p.create(await offerById(p, 5), launch, 'drover-oci', MODEL);
    clock += UP_AFTER_MS;
    const info = await p.describe(instance_id);
    expect(info?.status).toBe('exited');
    expect(info?.status_msg).toBe(`${HOST_START_FAILURE_PREFIX}OCI runtime create failed: runc create failed`);
  });

  it('vast provider - renting a taken or unknown offer is offer_taken', async () => {
    const p = provider();
    const o = await offerById(p, 2);
    await p.create(o, launch, 'drover-taken', MODEL);
    const err = await p.create(o, launch, 'drover-taken', MODEL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'offer_taken', status: 400 });
    await expect(p.create({ ...o, offer_id: '999999' }, launch, 'x', MODEL)).rejects.toMatchObject({ kind: 'offer_taken' });
  });

  it('vast provider - list by label follows next_token past 25 instances', async () => {
    const p = provider();
    const offers = (await p.searchOffers({ gpu_names: ['RTX A4000'], limit: 100 })).slice(0, 30);
    expect(offers).toHaveLength(30);
    for (const [i, o] of offers.entries()) await p.create(o, launch, i < 27 ? `drover-pool-a-${i}` : `other-${i}`, MODEL);
    const before = market.requestCount();
    const mine = await p.listByLabel('drover-pool-a-');
    expect(market.requestCount() - before).toBe(2); // 25 + 5
    expect(mine).toHaveLength(27);
    expect(new Set(mine.map((i) => i.instance_id)).size).toBe(27);
    expect(mine.every((i) => i.label?.startsWith('drover-pool-a-'))).toBe(true);
    expect(await p.listByLabel('drover-')).toHaveLength(27);
    expect(await p.listByLabel('')).toHaveLength(30);
    expect(await p.listByLabel('nobody-')).toEqual([]);
  });

  it('vast provider - destroy closes the host, frees the offer and is idempotent', async () => {
    const p = provider();
    const { instance_id } = await p.create(await offerById(p, 3), launch, 'drover-gone', MODEL);
    const host = hosts.find((h) => h.instanceId === instance_id)!;
    await p.destroy(instance_id);
    expect(host.closed).toBe(true);
    expect(await p.describe(instance_id)).toBeUndefined();
    expect(market.instances().map((i) => i.instance_id)).not.toContain(instance_id);
    expect((await p.searchOffers({ limit: 1000 })).map((o) => o.offer_id)).toContain('3');
    await p.destroy(instance_id);
    await p.destroy('424242');
    const raw = await fetch(`${market.url}/api/v0/instances/${instance_id}/`, { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` }, body: '{}' });
    expect(raw.status).toBe(404);
    expect(await raw.json()).toMatchObject({ success: false, error: 'no_such_instance' });
  });

  it('vast provider - the legacy list answers with instances_found', async () => {
    const p = provider();
    await p.create(await offerById(p, 1), launch, 'drover-legacy', MODEL);
    const res = await fetch(`${market.url}/api/v0/instances/?owner=me`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const body = (await res.json()) as { instances_found: number; instances: Array<{ label: string }> };
    expect(body.instances_found).toBe(1);
    expect(body.instances[0]?.label).toBe('drover-legacy');
  });
});

describe('vast provider - errors', () => {
  it('vast provider - a wrong key is unauthorized with the server message', async () => {
    const p = provider({ apiKey: 'wrong' });
    const err = await p.searchOffers({}).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect((err as Error).message).toContain('Invalid user key');
    expect(delays).toEqual([]);
  });

  it('vast provider - 429 plain text is retried with backoff, then succeeds', async () => {
    const p = provider();
    market.faults.rateLimitEvery = market.requestCount() + 1; // the next request is refused, the retry is not
    const before = market.requestCount();
    expect((await p.searchOffers({})).length).toBeGreaterThan(0);
    expect(market.requestCount() - before).toBe(2);
    expect(delays).toEqual([150]);
  });

  it('vast provider - 429 until retries run out is rate_limited', async () => {
    const p = provider({ retry: { attempts: 3, baseMs: 10, factor: 2 } });
    market.faults.rateLimitEvery = 1;
    const err = await p.searchOffers({}).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'rate_limited', status: 429 });
    expect((err as Error).message).toContain('API requests too frequent');
    expect(delays).toEqual([10, 20]);
  });

  it('vast provider - 502/503/504 are retried; 500 is not', async () => {
    const p = provider();
    market.injectResponses({ status: 502, body: 'Bad Gateway' }, { status: 503, body: '<html>down</html>', contentType: 'text/html' }, { status: 504, body: '' });
    expect((await p.searchOffers({})).length).toBeGreaterThan(0);
    expect(delays).toEqual([150, 225, 337.5]);
    delays.length = 0;
    market.injectResponses({ status: 500, body: { success: false, error: 'server_error', msg: 'boom' } });
    await expect(p.searchOffers({})).rejects.toMatchObject({ kind: 'server', status: 500, message: expect.stringContaining('boom') });
    expect(delays).toEqual([]);
    market.injectResponses(...Array.from({ length: 4 }, () => ({ status: 503, body: 'busy' })));
    await expect(p.searchOffers({})).rejects.toMatchObject({ kind: 'server', status: 503 });
  });

  it('vast provider - 200 with success:false is a typed error', async () => {
    const p = provider();
    const o = await offerById(p, 1);
    market.injectResponses({ status: 200, body: { success: false, error: 'insufficient_credit', msg: 'Your balance is too low.' } });
    await expect(p.create(o, launch, 'x', MODEL)).rejects.toMatchObject({ kind: 'insufficient_credit', message: expect.stringContaining('balance is too low') });
    market.injectResponses({ status: 200, body: { success: false, msg: 'Account suspended.' } });
    await expect(p.create(o, launch, 'x', MODEL)).rejects.toMatchObject({ kind: 'rejected', message: expect.stringContaining('Account suspended') });
    market.injectResponses({ status: 410, body: { success: false, error: 'no_such_ask', msg: 'gone' } });
    await expect(p.create(o, launch, 'x', MODEL)).rejects.toMatchObject({ kind: 'offer_taken', status: 410 });
    market.injectResponses({ status: 403, body: { message: 'Please log in or sign up' } });
    await expect(p.listByLabel('x')).rejects.toMatchObject({ kind: 'unauthorized', message: expect.stringContaining('Please log in') });
    expect(market.instances()).toEqual([]);
  });

  it('vast provider - malformed bodies are bad_response', async () => {
    const p = provider();
    market.injectResponses({ status: 200, body: '<html>maintenance</html>', contentType: 'text/html' });
    await expect(p.searchOffers({})).rejects.toMatchObject({ kind: 'bad_response' });
    market.injectResponses({ status: 200, body: { offers: 'none' } });
    await expect(p.searchOffers({})).rejects.toMatchObject({ kind: 'bad_response' });
    market.injectResponses({ status: 200, body: { instances: { id: 'abc' } } });
    await expect(p.describe('1')).rejects.toMatchObject({ kind: 'bad_response' });
    const o = await offerById(p, 1);
    market.injectResponses({ status: 200, body: { success: true } });
    await expect(p.create(o, launch, 'x', MODEL)).rejects.toMatchObject({ kind: 'bad_response' });
    market.injectResponses({ status: 200, body: { instances: [], next_token: 'same' } }, { status: 200, body: { instances: [], next_token: 'same' } });
    await expect(p.listByLabel('x')).rejects.toMatchObject({ kind: 'bad_response' });
  });

  it('vast provider - only a Vast 404 means gone; a proxy page does not', async () => {
    const p = provider();
    market.injectResponses({ status: 404, body: { success: false, error: 'no_such_instance', msg: 'Instance 1 not found.' } });
    expect(await p.describe('1')).toBeUndefined();
    market.injectResponses({ status: 404, body: '<html>Not Found</html>', contentType: 'text/html' });
    await expect(p.describe('1')).rejects.toMatchObject({ kind: 'not_found', status: 404 });
    market.injectResponses({ status: 404, body: '<html>Not Found</html>', contentType: 'text/html' });
    await expect(p.destroy('1')).rejects.toMatchObject({ kind: 'not_found' });
    market.injectResponses({ status: 200, body: { success: false, error: 'no_such_instance', msg: 'gone' } });
    await p.destroy('1');
  });

  it('vast provider - search skips rows that fail the wire schema', async () => {
    const p = provider();
    market.injectResponses({ status: 200, body: { offers: [{ id: 1, host_id: 2, machine_id: 3, gpu_name: 'RTX 4090', num_gpus: 1, gpu_ram: 24000, dph_total: 0.2 }, { id: 'x' }] } });
    const offers = await p.searchOffers({});
    expect(offers.map((o) => o.offer_id)).toEqual(['1']);
    expect(logLines.some((l) => l.includes('vast offers skipped'))).toBe(true);
  });

  it('vast provider - connection failures are retried, then network', async () => {
    const closed = await startSimMarketplace({ scenario: SCENARIO, authorizedKeys: [], timeScale: 1, logger, hostFactory: () => Promise.reject(new Error('unused')) });
    const url = closed.url;
    await closed.close();
    const p = provider({ apiUrl: `${url}/api/v0/` });
    await expect(p.searchOffers({})).rejects.toMatchObject({ kind: 'network' });
    expect(delays).toEqual([150, 225, 337.5]);
  });
});
