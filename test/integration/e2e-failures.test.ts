/**
 * Engine failures end to end: an engine that fails before the first token is retried on the other
 * replica; one that dies mid-stream ends the task with a retriable error; garbage on NATS subjects
 * gets a typed error and leaves everything running.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { request } from 'undici';
import { DEFAULT_MODEL, decode, encode } from '../../src/protocols/index.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

let drover: TestDrover;
beforeAll(async () => {
  drover = await startTestDrover();
});
afterAll(async () => {
  await drover?.close();
});
afterEach(async () => {
  await Promise.all(drover.sims.map((s) => s.setFaults({ failBeforeFirstToken: undefined, dieAfterTokens: undefined, errorAfterTokens: undefined })));
});

async function run(maxTokens = 8) {
  const res = await postJson(`${drover.httpUrl}/v2/tasks`, { model: DEFAULT_MODEL, prompt: 'hi', max_tokens: maxTokens });
  expect(res.status).toBe(202);
  const taskId = res.body?.task_id as string;
  const { events } = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`);
  return { taskId, events };
}

async function finalRecord(taskId: string) {
  await expect.poll(async () => (await getJson(`${drover.httpUrl}/v2/tasks/${taskId}`)).body?.state).not.toMatch(/queued|running/);
  return (await getJson(`${drover.httpUrl}/v2/tasks/${taskId}`)).body ?? {};
}

describe('failures - engines that fail', () => {
  it('retries a task on the other replica when the engine fails before the first token', async () => {
    await drover.sims[0]?.setFaults({ failBeforeFirstToken: 'reset' });
    await drover.sims[1]?.setFaults({ failBeforeFirstToken: undefined });
    const { taskId, events } = await run(6);
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'token', 'token', 'token', 'token', 'end']);
    const record = await finalRecord(taskId);
    expect(record).toMatchObject({ state: 'completed', attempts: 2, replica_id: 'sim-1', tokens_out: 6 });
  });

  it('ends with REPLICA_EXHAUSTED when every replica fails before the first token', async () => {
    await Promise.all(drover.sims.map((s) => s.setFaults({ failBeforeFirstToken: 'http500' })));
    const { taskId, events } = await run(4);
    expect(events.map((e) => e.event)).toEqual(['started', 'error']);
    expect(events[1]?.data).toMatchObject({ code: 'REPLICA_EXHAUSTED', retriable: true });
    expect(await finalRecord(taskId)).toMatchObject({ state: 'failed', attempts: 2 });
  });

  it('ends a task whose engine dies mid-stream with a retriable error and nothing after it', async () => {
    await Promise.all(drover.sims.map((s) => s.setFaults({ dieAfterTokens: 3 })));
    const { taskId, events } = await run(20);
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'token', 'error']);
    expect(events.at(-1)?.data).toMatchObject({ code: 'WORKER_RESET', retriable: true });
    expect(await finalRecord(taskId)).toMatchObject({ state: 'failed', tokens_out: 3 });
  });

  it('reports an error the engine sends inside the stream', async () => {
    await Promise.all(drover.sims.map((s) => s.setFaults({ errorAfterTokens: 2 })));
    const { events } = await run(20);
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'error']);
    expect(events.at(-1)?.data).toMatchObject({ code: 'WORKER_RESET', retriable: true });
  });

  it('releases every slot after failures', async () => {
    const pools = (await getJson(`${drover.httpUrl}/v2/pools`)).body?.pools as Array<{ slots_busy: number }>;
    expect(pools.map((p) => p.slots_busy)).toEqual([0]);
  });
});

describe('bad input - garbage on drover subjects', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: drover.natsUrl });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('answers garbage msgpack, garbage JSON and wrong shapes with INVALID_PARAMS and keeps serving', async () => {
    const json = natsHeaders();
    json.set('Content-Type', 'application/json');
    const cases: Array<{ subject: string; data: Uint8Array; json: boolean }> = [
      { subject: 'drover.tasks.submit', data: new Uint8Array([0xc1, 0xff, 0x00]), json: false },
      { subject: 'drover.tasks.submit', data: new TextEncoder().encode('{not json'), json: true },
      { subject: 'drover.tasks.submit', data: new TextEncoder().encode('{"spec":{"model":42}}'), json: true },
      { subject: 'drover.tasks.submit', data: encode({ spec: 'x' }), json: false },
      { subject: 'drover.pools.query', data: encode([1, 2, 3]), json: false },
      { subject: 'drover.tasks.abc.cancel', data: new TextEncoder().encode('[]'), json: true },
    ];
    for (const c of cases) {
      const reply = await nc.request(c.subject, c.data, { timeout: 5_000, ...(c.json ? { headers: json } : {}) });
      expect(reply.headers?.get('Drover-Error')).toBe('1');
      const envelope = (c.json ? JSON.parse(new TextDecoder().decode(reply.data)) : decode(reply.data)) as Record<string, unknown>;
      expect(envelope).toMatchObject({ code: 'INVALID_PARAMS', retriable: false });
      expect(typeof envelope.message).toBe('string');
    }
    // Plain garbage publishes (no reply subject) on status and event subjects are dropped.
    nc.publish('drover.pools.default.status', new Uint8Array([1, 2, 3]));
    nc.publish('drover.tasks.xyz.events', new TextEncoder().encode('garbage'));
    await nc.flush();
    // Everything still works.
    const ok = await run(3);
    expect(ok.events.at(-1)?.event).toBe('end');
    const health = await request(`${drover.httpUrl}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  });

  it('answers a well-formed JSON submit by hand in JSON', async () => {
    const h = natsHeaders();
    h.set('Content-Type', 'application/json');
    const spec = { task_id: 'by-hand-1', session_id: 's1', model: DEFAULT_MODEL, prompt: 'hi', max_tokens: 2, priority: 'batch', deadline_ms: 60_000 };
    const reply = await nc.request('drover.tasks.submit', new TextEncoder().encode(JSON.stringify({ spec, correlation_id: 'c-1' })), { timeout: 5_000, headers: h });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as Record<string, unknown>;
    expect(body).toMatchObject({ task_id: 'by-hand-1' });
    const { events } = await readSse(`${drover.httpUrl}/v2/tasks/by-hand-1/events`);
    expect(events.at(-1)?.event).toBe('end');
  });
});
