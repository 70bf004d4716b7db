import { connect, headers, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DroverError, ErrorEnvelopeSchema, decode, encode, type ErrorCode } from '../../src/protocols/index.js';
import {
  BlacklistAddReplySchema,
  BlacklistListReplySchema,
  BlacklistRemovedReplySchema,
  HostsListReplySchema,
  HostsShowReplySchema,
  OPS_SERVICE,
  OPS_SERVICE_VERSION,
  OPS_SUBJECTS,
  PoolControlSchema,
  PoolsListReplySchema,
  PoolUpdateReplySchema,
  StrictnessReplySchema,
  poolControlSubject,
  type PoolControl,
} from '../../src/protocols/index.js';
import { connectTransport, endpoint, type ServiceHandle, type Transport } from '../../src/transport/index.js';
import { ALPHA_SPEC, FAILED_HOST, OPS_NOW, READY_HOST, openOpsStores, resetOps, startTestOpsService, type OpsStores } from '../helpers/ops-fixtures.js';
import { captureLogs, LOG_LEVEL, useNatsServer, waitFor } from '../helpers/nats-server.js';

const server = useNatsServer();
let transport: Transport;
let raw: NatsConnection;
let stores: OpsStores;
let ops: ServiceHandle;
const logs = captureLogs();

const text = new TextEncoder();
const untext = new TextDecoder();

/** A request from a plain NATS client in JSON, as an operator would send it by hand. */
function jsonRequest(subject: string, body: string): Promise<Msg> {
  const h = headers();
  h.set('Content-Type', 'application/json');
  return raw.request(subject, text.encode(body), { timeout: 2000, headers: h });
}

/** The DroverError a request fails with. */
async function failure(p: Promise<unknown>): Promise<DroverError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DroverError);
  return err as DroverError;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<DroverError> {
  const err = await failure(p);
  expect(err.code).toBe(code);
  return err;
}

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'ops-test', logger: logs.logger });
  raw = await connect({ servers: server().url });
  stores = await openOpsStores(transport);
  ops = await startTestOpsService(transport, stores, logs.logger);
});

afterAll(async () => {
  await raw?.close();
  await ops?.stop();
  await transport?.close();
});

beforeEach(async () => {
  await resetOps(stores);
});

describe('ops service - discovery', () => {
  it('answers $SRV.PING and $SRV.INFO with every endpoint', async () => {
    const ping = JSON.parse(untext.decode((await raw.request(`$SRV.PING.${OPS_SERVICE}`, undefined, { timeout: 2000 })).data)) as Record<string, unknown>;
    expect(ping).toMatchObject({ type: 'io.nats.micro.v1.ping_response', name: OPS_SERVICE, id: ops.id, version: OPS_SERVICE_VERSION });

    const info = z
      .object({ name: z.string(), metadata: z.record(z.string(), z.string()), endpoints: z.array(z.object({ name: z.string(), subject: z.string() })) })
      .parse(JSON.parse(untext.decode((await raw.request(`$SRV.INFO.${OPS_SERVICE}`, undefined, { timeout: 2000 })).data)));
    expect(info.name).toBe(OPS_SERVICE);
    expect(info.metadata).toMatchObject({ node_id: 'node-test' });
    expect(info.endpoints.map((e) => e.subject).sort()).toEqual(Object.values(OPS_SUBJECTS).sort());
  });

  it('counts requests in $SRV.STATS', async () => {
    await transport.bus.request(OPS_SUBJECTS.poolsList, {}, { schema: PoolsListReplySchema });
    const stats = z
      .object({ endpoints: z.array(z.object({ subject: z.string(), num_requests: z.number() })) })
      .parse(JSON.parse(untext.decode((await raw.request(`$SRV.STATS.${OPS_SERVICE}`, undefined, { timeout: 2000 })).data)));
    expect(stats.endpoints.find((e) => e.subject === OPS_SUBJECTS.poolsList)?.num_requests).toBeGreaterThanOrEqual(1);
  });
});

describe('ops service - hosts', () => {
  it('lists every host with its diagnostics, filters by pool and state', async () => {
    const all = await transport.bus.request(OPS_SUBJECTS.hostsList, {}, { schema: HostsListReplySchema });
    expect(all.hosts.map((h) => h.host_id)).toEqual(['h-ready', 'h-failed']);
    expect(all.hosts[0]).toMatchObject({ pool_id: 'alpha', state: 'ready', blacklisted: false, gpu_name: 'RTX 4090', last_transition: { to: 'ready' } });
    expect(all.hosts[1]).toMatchObject({
      pool_id: 'beta',
      state: 'failed',
      stage: 'gpu',
      failure_class: 'INFRA_FATAL',
      failure_reason: 'GPU has fallen off the bus',
      blacklisted: true,
      last_transition: { from: 'booting', to: 'failed', at: OPS_NOW - 5_000 },
    });

    const beta = await transport.bus.request(OPS_SUBJECTS.hostsList, { pool_id: 'beta' }, { schema: HostsListReplySchema });
    expect(beta.hosts.map((h) => h.host_id)).toEqual(['h-failed']);
    const ready = await transport.bus.request(OPS_SUBJECTS.hostsList, { state: 'ready' }, { schema: HostsListReplySchema });
    expect(ready.hosts.map((h) => h.host_id)).toEqual(['h-ready']);
    const none = await transport.bus.request(OPS_SUBJECTS.hostsList, { pool_id: 'alpha', state: 'failed' }, { schema: HostsListReplySchema });
    expect(none.hosts).toEqual([]);
  });

  it('shows one host with transitions, evidence, reputation and blacklist entries', async () => {
    const shown = await transport.bus.request(OPS_SUBJECTS.hostsShow, { host_id: 'h-failed' }, { schema: HostsShowReplySchema });
    expect(shown.host).toEqual(FAILED_HOST);
    expect(shown.host.failure?.evidence).toContain('device handle');
    expect(shown.reputation).toMatchObject({ provider_host_id: '222', infra_failures: 2 });
    expect(shown.blacklist).toEqual([expect.objectContaining({ key: 'global.222', scope: 'global' })]);

    const plain = await transport.bus.request(OPS_SUBJECTS.hostsShow, { host_id: 'h-ready' }, { schema: HostsShowReplySchema });
    expect(plain.host).toEqual(READY_HOST);
    expect(plain.reputation).toBeUndefined();
    expect(plain.blacklist).toEqual([]);
  });

  it('answers an unknown host with NOT_FOUND', async () => {
    const err = await expectCode(transport.bus.request(OPS_SUBJECTS.hostsShow, { host_id: 'h-nope' }, { schema: HostsShowReplySchema }), 'NOT_FOUND');
    expect(err.message).toBe('no host h-nope');
  });
});

describe('ops service - encodings and bad payloads', () => {
  it('answers a raw JSON request in JSON, errors as a JSON envelope with micro error headers', async () => {
    const ok = await jsonRequest(OPS_SUBJECTS.hostsList, '');
    expect(ok.headers?.get('Content-Type')).toBe('application/json');
    expect(ok.headers?.has('Drover-Error') ?? false).toBe(false);
    expect(HostsListReplySchema.parse(JSON.parse(untext.decode(ok.data))).hosts).toHaveLength(2);

    const show = await jsonRequest(OPS_SUBJECTS.hostsShow, JSON.stringify({ host_id: 'h-ready' }));
    expect(HostsShowReplySchema.parse(JSON.parse(untext.decode(show.data))).host.host_id).toBe('h-ready');

    const missing = await jsonRequest(OPS_SUBJECTS.hostsShow, JSON.stringify({ host_id: 'h-nope' }));
    expect(missing.headers?.get('Content-Type')).toBe('application/json');
    expect(missing.headers?.get('Drover-Error')).toBe('1');
    expect(missing.headers?.get('Nats-Service-Error-Code')).toBe('404');
    expect(missing.headers?.get('Nats-Service-Error')).toBe('NOT_FOUND: no host h-nope');
    expect(ErrorEnvelopeSchema.parse(JSON.parse(untext.decode(missing.data)))).toMatchObject({ code: 'NOT_FOUND', retriable: false });
  });

  it('answers msgpack with msgpack', async () => {
    const reply = await raw.request(OPS_SUBJECTS.strictnessGet, encode({}), { timeout: 2000 });
    expect(reply.headers?.has('Content-Type') ?? false).toBe(false);
    expect(StrictnessReplySchema.parse(decode(reply.data))).toEqual({ strictness: 'strict', source: 'default' });
  });

  it('answers bad payloads with INVALID_PARAMS and keeps answering', async () => {
    const before = logs.lines.length;
    const garbage = await raw.request(OPS_SUBJECTS.poolsScale, new Uint8Array([0xc1, 0xc1]), { timeout: 2000 });
    expect(garbage.headers?.get('Drover-Error')).toBe('1');
    expect(garbage.headers?.get('Nats-Service-Error-Code')).toBe('400');
    expect(ErrorEnvelopeSchema.parse(decode(garbage.data)).code).toBe('INVALID_PARAMS');

    const badJson = await jsonRequest(OPS_SUBJECTS.blacklistAdd, '{not json');
    expect(ErrorEnvelopeSchema.parse(JSON.parse(untext.decode(badJson.data))).code).toBe('INVALID_PARAMS');

    const negative = await expectCode(transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'alpha', replicas: -1 }, { schema: PoolUpdateReplySchema }), 'INVALID_PARAMS');
    expect(negative.message).toMatch(/^replicas: /);
    await expectCode(transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'alpha', replicas: 1.5 }, { schema: PoolUpdateReplySchema }), 'INVALID_PARAMS');
    await expectCode(transport.bus.request(OPS_SUBJECTS.strictnessSet, { strictness: 'lax' }, { schema: StrictnessReplySchema }), 'INVALID_PARAMS');
    const noReason = await expectCode(transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '555' }, { schema: BlacklistAddReplySchema }), 'INVALID_PARAMS');
    expect(noReason.message).toMatch(/^reason: /);
    await expectCode(transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '5.5', reason: 'x' }, { schema: BlacklistAddReplySchema }), 'INVALID_PARAMS');
    await expectCode(transport.bus.request(OPS_SUBJECTS.hostsShow, { host_id: 'a b' }, { schema: HostsShowReplySchema }), 'INVALID_PARAMS');
    const warns = logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn && l.msg === 'bad request payload');
    expect(warns).toHaveLength(8);

    await expect(transport.bus.request(OPS_SUBJECTS.poolsList, {}, { schema: PoolsListReplySchema })).resolves.toEqual({ pools: [ALPHA_SPEC] });
    const ping = await raw.request(`$SRV.PING.${OPS_SERVICE}`, undefined, { timeout: 2000 });
    expect(ping.data.length).toBeGreaterThan(0);
  });
});

describe('ops service - blacklist', () => {
  it('adds an operator entry (by the named operator or "operator"), replacing on re-add', async () => {
    const added = await transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '444', reason: 'flaky NIC', operator: 'alice' }, { schema: BlacklistAddReplySchema });
    expect(added).toEqual({
      created: true,
      entry: { key: 'operator.444', provider_host_id: '444', scope: 'operator', reason: 'flaky NIC', by: 'alice', at: OPS_NOW },
    });
    const again = await transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '444', reason: 'still flaky' }, { schema: BlacklistAddReplySchema });
    expect(again.created).toBe(false);
    expect(again.entry).toMatchObject({ reason: 'still flaky', by: 'operator' });
    await expect(stores.blacklist.get('operator.444')).resolves.toMatchObject({ value: { reason: 'still flaky', by: 'operator' } });
  });

  it('lists entries, by scope or host', async () => {
    await transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '444', reason: 'flaky NIC' }, { schema: BlacklistAddReplySchema });
    const all = await transport.bus.request(OPS_SUBJECTS.blacklistList, {}, { schema: BlacklistListReplySchema });
    expect(all.entries.map((e) => e.key)).toEqual(['global.222', 'operator.444', 'workload.333.vllm_tiny']);
    const operator = await transport.bus.request(OPS_SUBJECTS.blacklistList, { scope: 'operator' }, { schema: BlacklistListReplySchema });
    expect(operator.entries.map((e) => e.key)).toEqual(['operator.444']);
    const host = await transport.bus.request(OPS_SUBJECTS.blacklistList, { provider_host_id: '222' }, { schema: BlacklistListReplySchema });
    expect(host.entries.map((e) => e.key)).toEqual(['global.222']);
  });

  it('removes a host (operator and global entries by default), NOT_FOUND when there is nothing', async () => {
    await transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '222', reason: 'also by hand' }, { schema: BlacklistAddReplySchema });
    const removed = await transport.bus.request(OPS_SUBJECTS.blacklistRemove, { provider_host_id: '222' }, { schema: BlacklistRemovedReplySchema });
    expect(removed.removed.map((e) => e.key)).toEqual(['global.222', 'operator.222']);
    expect(removed.kept).toBe(0);
    await expect(stores.blacklist.get('global.222')).resolves.toBeUndefined();

    await expectCode(transport.bus.request(OPS_SUBJECTS.blacklistRemove, { provider_host_id: '222' }, { schema: BlacklistRemovedReplySchema }), 'NOT_FOUND');
    // Workload entries go only when asked for by scope.
    await expectCode(transport.bus.request(OPS_SUBJECTS.blacklistRemove, { provider_host_id: '333' }, { schema: BlacklistRemovedReplySchema }), 'NOT_FOUND');
    const workload = await transport.bus.request(OPS_SUBJECTS.blacklistRemove, { provider_host_id: '333', scope: 'workload' }, { schema: BlacklistRemovedReplySchema });
    expect(workload.removed.map((e) => e.key)).toEqual(['workload.333.vllm_tiny']);
  });

  it('clears operator and global entries, keeps workload entries, says what went', async () => {
    await transport.bus.request(OPS_SUBJECTS.blacklistAdd, { provider_host_id: '444', reason: 'flaky NIC' }, { schema: BlacklistAddReplySchema });
    const cleared = await transport.bus.request(OPS_SUBJECTS.blacklistClear, { operator: 'bob' }, { schema: BlacklistRemovedReplySchema });
    expect(cleared.removed.map((e) => e.key)).toEqual(['global.222', 'operator.444']);
    expect(cleared.kept).toBe(1);
    expect((await stores.blacklist.keys()).sort()).toEqual(['workload.333.vllm_tiny']);
    const empty = await transport.bus.request(OPS_SUBJECTS.blacklistClear, undefined, { schema: BlacklistRemovedReplySchema });
    expect(empty).toEqual({ removed: [], kept: 1 });
  });
});

describe('ops service - pools', () => {
  /** Collects control messages of one pool. */
  function controls(poolId: string): { seen: PoolControl[]; stop: () => Promise<void> } {
    const seen: PoolControl[] = [];
    const sub = transport.bus.subscribe(poolControlSubject(poolId), { schema: PoolControlSchema }, (m) => void seen.push(m));
    return { seen, stop: () => sub.unsubscribe() };
  }

  it('lists pool specs', async () => {
    await expect(transport.bus.request(OPS_SUBJECTS.poolsList, {}, { schema: PoolsListReplySchema })).resolves.toEqual({ pools: [ALPHA_SPEC] });
  });

  it('scale updates KV with compare-and-set and publishes the control message', async () => {
    const before = await stores.pools.get('alpha');
    const c = controls('alpha');
    await transport.bus.flush();
    try {
      const reply = await transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'alpha', replicas: 5, operator: 'carol' }, { schema: PoolUpdateReplySchema });
      expect(reply.previous).toEqual(ALPHA_SPEC);
      expect(reply.pool).toEqual({ ...ALPHA_SPEC, desired_replicas: 5, updated_at: OPS_NOW, updated_by: 'carol' });
      expect(reply.revision).toBeGreaterThan(before!.revision);
      await expect(stores.pools.get('alpha')).resolves.toEqual({ value: reply.pool, revision: reply.revision });
      await waitFor(() => c.seen.length === 1);
      expect(c.seen[0]).toEqual({ type: 'pool.scale', pool_id: 'alpha', replicas: 5, revision: reply.revision, by: 'carol', at: OPS_NOW });

      const zero = await transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'alpha', replicas: 0 }, { schema: PoolUpdateReplySchema });
      expect(zero.pool.desired_replicas).toBe(0);
      await waitFor(() => c.seen.length === 2);
    } finally {
      await c.stop();
    }
  });

  it('drain marks the pool draining and publishes; scaling ends the drain', async () => {
    const c = controls('alpha');
    await transport.bus.flush();
    try {
      const drained = await transport.bus.request(OPS_SUBJECTS.poolsDrain, { pool_id: 'alpha' }, { schema: PoolUpdateReplySchema });
      expect(drained.pool).toMatchObject({ draining: true, desired_replicas: 2, updated_by: 'operator' });
      await waitFor(() => c.seen.length === 1);
      expect(c.seen[0]).toMatchObject({ type: 'pool.drain', pool_id: 'alpha', revision: drained.revision });
      const scaled = await transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'alpha', replicas: 1 }, { schema: PoolUpdateReplySchema });
      expect(scaled.pool).toMatchObject({ draining: false, desired_replicas: 1 });
    } finally {
      await c.stop();
    }
  });

  it('answers an unknown pool with NOT_FOUND and publishes nothing', async () => {
    const c = controls('nope');
    await transport.bus.flush();
    try {
      await expectCode(transport.bus.request(OPS_SUBJECTS.poolsScale, { pool_id: 'nope', replicas: 1 }, { schema: PoolUpdateReplySchema }), 'NOT_FOUND');
      await expectCode(transport.bus.request(OPS_SUBJECTS.poolsDrain, { pool_id: 'nope' }, { schema: PoolUpdateReplySchema }), 'NOT_FOUND');
      await transport.bus.flush();
      expect(c.seen).toEqual([]);
      await expect(stores.pools.get('nope')).resolves.toBeUndefined();
    } finally {
      await c.stop();
    }
  });
});

describe('ops service - strictness', () => {
  it('reports the default until set, then the stored setting', async () => {
    await expect(transport.bus.request(OPS_SUBJECTS.strictnessGet, {}, { schema: StrictnessReplySchema })).resolves.toEqual({ strictness: 'strict', source: 'default' });
    const set = await transport.bus.request(OPS_SUBJECTS.strictnessSet, { strictness: 'balanced', operator: 'dave' }, { schema: StrictnessReplySchema });
    expect(set).toEqual({ strictness: 'balanced', source: 'kv', updated_at: OPS_NOW, updated_by: 'dave', previous: 'strict' });
    await expect(transport.bus.request(OPS_SUBJECTS.strictnessGet, undefined, { schema: StrictnessReplySchema })).resolves.toEqual({
      strictness: 'balanced',
      source: 'kv',
      updated_at: OPS_NOW,
      updated_by: 'dave',
    });
    const again = await transport.bus.request(OPS_SUBJECTS.strictnessSet, { strictness: 'aggressive' }, { schema: StrictnessReplySchema });
    expect(again).toMatchObject({ previous: 'balanced', updated_by: 'operator' });
    // A reader that only knows `{value}` (the fleet's strictness lookup) sees it too.
    expect(z.object({ value: z.string() }).parse((await stores.settings.get('strictness'))?.value)).toEqual({ value: 'aggressive' });
  });
});

describe('transport services - endpoint failures', () => {
  it('turns a throw into INTERNAL, keeps the endpoint alive, and stop() waits for handlers in flight', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered = false;
    let finished = false;
    const svc = await transport.services.add({ name: 'svc-test', version: '0.0.1', description: 'test', logger: logs.logger }, [
      endpoint({
        name: 'boom',
        subject: 'test.svc.boom',
        schema: z.object({ how: z.enum(['defect', 'ok', 'slow']) }),
        handler: async (req) => {
          if (req.how === 'defect') throw new TypeError('boom');
          if (req.how === 'slow') {
            entered = true;
            await held;
            finished = true;
          }
          return { ok: true };
        },
      }),
    ]);
    const defect = await expectCode(transport.bus.request('test.svc.boom', { how: 'defect' }, { schema: z.unknown() }), 'INTERNAL');
    expect(defect.message).toBe('boom');
    await expect(transport.bus.request('test.svc.boom', { how: 'ok' }, { schema: z.object({ ok: z.boolean() }) })).resolves.toEqual({ ok: true });

    const slow = transport.bus.request('test.svc.boom', { how: 'slow' }, { schema: z.object({ ok: z.boolean() }), timeoutMs: 5000 });
    await waitFor(() => entered);
    let stopped = false;
    const stopping = svc.stop().then(() => (stopped = true));
    // Once the service no longer answers PING its subscriptions are gone; stop() still waits for the held handler.
    await waitFor(() =>
      raw.request('$SRV.PING.svc-test', undefined, { timeout: 500 }).then(
        () => false,
        () => true,
      ),
    );
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
    await expect(slow).resolves.toEqual({ ok: true });
    await expectCode(transport.bus.request('test.svc.boom', { how: 'ok' }, { schema: z.unknown() }), 'POOL_UNAVAILABLE');
  });
});
