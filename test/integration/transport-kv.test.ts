import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTransport, type KvStore, type Transport } from '../../src/transport/index.js';
import { captureLogs, LOG_LEVEL, useNatsServer } from '../helpers/nats-server.js';

const Rec = z.object({ owner: z.string(), n: z.number().int() });
type Rec = z.infer<typeof Rec>;

const server = useNatsServer();
let transport: Transport;
let raw: NatsConnection;
const logs = captureLogs();

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'kv-test', logger: logs.logger });
  raw = await connect({ servers: server().url });
});

afterAll(async () => {
  await raw?.close();
  await transport?.close();
});

describe('transport kv - compare-and-set', () => {
  let kv: KvStore<Rec>;
  beforeAll(async () => {
    kv = await transport.kv('test_cas', Rec);
  });

  it('create returns undefined when the key exists, never overwriting', async () => {
    const rev = await kv.create('a', { owner: 'p1', n: 1 });
    expect(rev).toBeGreaterThan(0);
    await expect(kv.create('a', { owner: 'p2', n: 2 })).resolves.toBeUndefined();
    await expect(kv.get('a')).resolves.toEqual({ value: { owner: 'p1', n: 1 }, revision: rev });
  });

  it('update writes only at the expected revision', async () => {
    const r1 = (await kv.create('b', { owner: 'p1', n: 1 }))!;
    const r2 = await kv.update('b', { owner: 'p1', n: 2 }, r1);
    expect(r2).toBeGreaterThan(r1);
    // A second writer still holding r1 loses.
    await expect(kv.update('b', { owner: 'p2', n: 3 }, r1)).resolves.toBeUndefined();
    await expect(kv.get('b')).resolves.toEqual({ value: { owner: 'p1', n: 2 }, revision: r2 });
  });

  it('two concurrent creates: exactly one wins', async () => {
    const results = await Promise.all([kv.create('race', { owner: 'x', n: 0 }), kv.create('race', { owner: 'y', n: 0 })]);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('put, delete, and create again after a delete', async () => {
    const r = await kv.put('c', { owner: 'p', n: 1 });
    expect(r).toBeGreaterThan(0);
    await kv.delete('c');
    await expect(kv.get('c')).resolves.toBeUndefined();
    expect(await kv.create('c', { owner: 'q', n: 2 })).toBeGreaterThan(r);
    await expect(kv.get('c')).resolves.toMatchObject({ value: { owner: 'q', n: 2 } });
  });

  it('deleteAt deletes only at the expected revision', async () => {
    const r1 = await kv.put('d', { owner: 'p', n: 1 });
    const r2 = await kv.put('d', { owner: 'p', n: 2 });
    // A deleter still holding r1 loses and the value stays.
    await expect(kv.deleteAt('d', r1)).resolves.toBe(false);
    await expect(kv.get('d')).resolves.toEqual({ value: { owner: 'p', n: 2 }, revision: r2 });
    await expect(kv.deleteAt('d', r2)).resolves.toBe(true);
    await expect(kv.get('d')).resolves.toBeUndefined();
  });

  it('stores values as JSON', async () => {
    await kv.put('json', { owner: 'op', n: 5 });
    const entry = await (await raw.jetstream().views.kv('test_cas')).get('json');
    expect(JSON.parse(entry!.string())).toEqual({ owner: 'op', n: 5 });
  });
});

describe('transport kv - listing and bad stored values', () => {
  it('entries and keys skip deleted keys; entries skip and log corrupt values', async () => {
    const kv = await transport.kv('test_list', Rec);
    await expect(kv.entries()).resolves.toEqual([]);
    await expect(kv.keys()).resolves.toEqual([]);
    await kv.put('one', { owner: 'a', n: 1 });
    await kv.put('two', { owner: 'b', n: 2 });
    await kv.put('two', { owner: 'b', n: 3 });
    await kv.put('gone', { owner: 'c', n: 4 });
    await kv.delete('gone');
    const rawKv = await raw.jetstream().views.kv('test_list');
    await rawKv.put('not-json', new TextEncoder().encode('{oops'));
    await rawKv.put('wrong-shape', new TextEncoder().encode(JSON.stringify({ owner: 7 })));

    const before = logs.lines.length;
    const entries = await kv.entries();
    expect(entries.map((e) => [e.key, e.value]).sort()).toEqual([
      ['one', { owner: 'a', n: 1 }],
      ['two', { owner: 'b', n: 3 }],
    ]);
    const warned = logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn).map((l) => l['key']);
    expect(warned.sort()).toEqual(['not-json', 'wrong-shape']);
    expect((await kv.keys()).sort()).toEqual(['not-json', 'one', 'two', 'wrong-shape']);

    const beforeGet = logs.lines.length;
    await expect(kv.get('wrong-shape')).resolves.toBeUndefined();
    expect(logs.lines.slice(beforeGet).filter((l) => l.level === LOG_LEVEL.warn && l['key'] === 'wrong-shape')).toHaveLength(1);
    await expect(kv.get('never-written')).resolves.toBeUndefined();
  });

  it('entries sees many keys', async () => {
    const kv = await transport.kv('test_many', Rec);
    await Promise.all(Array.from({ length: 300 }, (_, i) => kv.put(`k${i}`, { owner: 'o', n: i })));
    const entries = await kv.entries();
    expect(entries).toHaveLength(300);
  });
});

describe('transport kv - bucket options', () => {
  it('maxAgeMs and history reach the bucket (nats.js takes the age in ms, the server stores ns)', async () => {
    await transport.kv('test_opts', Rec, { maxAgeMs: 60_000, history: 3 });
    const info = await (await raw.jetstreamManager()).streams.info('KV_test_opts');
    expect(info.config.max_age).toBe(60_000 * 1_000_000);
    expect(info.config.max_msgs_per_subject).toBe(3);
  });
});
