/**
 * End to end through a whole Drover process (real nats-server, real HTTP, simulated vLLM engines):
 * event order, token accounting, late and resuming SSE clients, race-free cancel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { pino } from 'pino';
import { request } from 'undici';
import { DEFAULT_MODEL, STREAMS } from '../../src/protocols/index.js';
import { EventFormatter } from '../../src/api/event-ids.js';
import { connectTransport } from '../../src/transport/index.js';
import { collect } from '../helpers/task-events.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { getJson, postJson, readSse, type SseEvent } from '../helpers/sse.js';

let drover: TestDrover;

beforeAll(async () => {
  drover = await startTestDrover();
});
afterAll(async () => {
  await drover?.close();
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const res = await postJson(`${drover.httpUrl}/v2/tasks`, { model: DEFAULT_MODEL, prompt: 'Hello there', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body?.task_id as string;
}

function types(events: SseEvent[]): string[] {
  return events.map((e) => e.event);
}

describe('streaming - a task from admission to end', () => {
  it('streams started → token* → end with tokens_out equal to the tokens streamed', async () => {
    const taskId = await submit({ max_tokens: 24 });
    const { status, headers, events } = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`);
    expect(status).toBe(200);
    expect(headers['x-correlation-id']).toBeTruthy();
    const seq = types(events);
    expect(seq[0]).toBe('started');
    expect(seq.at(-1)).toBe('end');
    expect(seq.slice(1, -1).every((t) => t === 'token' || t === 'metrics')).toBe(true);
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens).toHaveLength(24);
    expect(tokens.map((t) => t.data.i)).toEqual([...Array(24).keys()]);
    expect(events.at(-1)?.data.tokens_out).toBe(tokens.length);
    // Every event's id is its position in the task: started 0, token i at i+1, then `end`.
    expect(events.map((e) => e.id)).toEqual(['0', ...tokens.map((t) => String(Number(t.data.i) + 1)), 'end']);

    const view = await getJson(`${drover.httpUrl}/v2/tasks/${taskId}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ task_id: taskId, model: DEFAULT_MODEL, tokens_out: 24 });
  });

  it('streams a task in the submit request itself (Accept: text/event-stream), resumable at Content-Location', async () => {
    const taskId = 'e2e-streamed-post';
    const { status, headers, events } = await readSse(`${drover.httpUrl}/v2/tasks`, { post: { task_id: taskId, model: DEFAULT_MODEL, prompt: 'Hi', max_tokens: 12 } });
    expect(status).toBe(200);
    expect(headers['x-task-id']).toBe(taskId);
    expect(types(events)[0]).toBe('started');
    expect(types(events).at(-1)).toBe('end');
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.map((t) => t.data.i)).toEqual([...Array(12).keys()]);
    // The same events, from the id of the first token on, at the events resource.
    const resumed = await readSse(`${drover.httpUrl}${String(headers['content-location'])}`, { headers: { 'last-event-id': tokens[0]!.id! } });
    expect(resumed.events.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
  });

  it('serves a task this process runs from memory: no consumer of the events stream, and the stream agrees', async () => {
    // Every consumer create on the events stream passes through here (nats.js 2.29 names the stream in the subject).
    const nc = await connect({ servers: drover.natsUrl });
    let creates = 0;
    nc.subscribe(`$JS.API.CONSUMER.CREATE.${STREAMS.events.name}`, { callback: () => (creates += 1) });
    nc.subscribe(`$JS.API.CONSUMER.CREATE.${STREAMS.events.name}.>`, { callback: () => (creates += 1) });
    await nc.flush();
    try {
      const taskId = 'e2e-from-memory';
      const { events } = await readSse(`${drover.httpUrl}/v2/tasks`, { post: { task_id: taskId, model: DEFAULT_MODEL, prompt: 'Hi', max_tokens: 16 } });
      await nc.flush();
      expect(creates).toBe(0);
      // Not even a shared one: nothing but the publishes went through nats-server.
      const jsm = await nc.jetstreamManager();
      expect((await jsm.streams.info(STREAMS.events.name)).state.consumer_count).toBe(0);
      // The stream holds the same events at the same positions (read by a process that never saw the task).
      const other = await connectTransport({ url: drover.natsUrl, name: 'e2e-stream-reader', logger: pino({ level: 'silent' }) });
      try {
        const stored = await collect(other.events.read(taskId, {}));
        const storedIds = [...stored.map((e) => new EventFormatter(false).format(e)).join('').matchAll(/^id: (.+)$/gm)].map((m) => m[1]);
        expect(storedIds).toEqual(events.map((e) => e.id));
        expect(stored.at(-1)).toMatchObject({ type: 'end', data: { tokens_out: 16 } });
      } finally {
        await other.close();
      }
      await nc.flush();
      expect(creates).toBeGreaterThan(0); // the counter sees a reader that does need a consumer
    } finally {
      await nc.close();
    }
  });

  it('gives a client that connects after the end every event', async () => {
    const taskId = await submit({ max_tokens: 5 });
    const live = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`);
    const late = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`);
    expect(late.events).toEqual(live.events);
    expect(types(late.events)).toEqual(['started', 'token', 'token', 'token', 'token', 'token', 'end']);
  });

  it('resumes with Last-Event-ID with exactly the missing events', async () => {
    const taskId = await submit({ max_tokens: 10 });
    const all = (await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`)).events;
    for (const cut of [0, 3, all.length - 2]) {
      const lastSeen = all[cut];
      const resumed = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`, {
        headers: { 'last-event-id': String(lastSeen?.id) },
      });
      expect(resumed.events).toEqual(all.slice(cut + 1));
    }
  });

  it('with ?batch=true, token frames carry batches whose tokens are exactly 0…n-1, in order', async () => {
    const taskId = await submit({ max_tokens: 40 });
    const { events } = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events?batch=true`);
    const tokens = events.filter((e) => e.event === 'token').flatMap((e) => (Array.isArray(e.data.batch) ? (e.data.batch as Array<{ i: number }>) : [e.data as { i: number }]));
    expect(tokens.map((t) => t.i)).toEqual([...Array(40).keys()]);
    expect(events.slice(0, -1).every((e) => /^\d+$/.test(e.id ?? ''))).toBe(true);
    expect(events.at(-1)?.id).toBe('end');
    expect(events.at(-1)?.data.tokens_out).toBe(40);
  });

  it('cancels mid-stream: end {canceled:true} and no token after it', async () => {
    // A slow task: 20 tokens/s, 400 tokens — it is surely streaming when we cancel.
    const slow = await startTestDrover({ sim: { engines: 1, ttft_ms: 1, tokens_per_s: 20, max_num_seqs: 4 } });
    try {
      const res = await postJson(`${slow.httpUrl}/v2/tasks`, { model: DEFAULT_MODEL, prompt: 'long story', max_tokens: 400 });
      const taskId = res.body?.task_id as string;
      let cancel: Promise<{ status: number; correlation: unknown }> | undefined;
      const { events } = await readSse(`${slow.httpUrl}/v2/tasks/${taskId}/events`, {
        onEvent: (e) => {
          if (e.event === 'token' && e.data.i === 3 && cancel === undefined) {
            cancel = request(`${slow.httpUrl}/v2/tasks/${taskId}/cancel`, { method: 'POST' }).then(async (r) => {
              await r.body.dump();
              return { status: r.statusCode, correlation: r.headers['x-correlation-id'] };
            });
          }
        },
      });
      const canceled = await cancel;
      expect(canceled?.status).toBe(204);
      expect(canceled?.correlation).toBeTruthy();
      const end = events.at(-1);
      expect(end?.event).toBe('end');
      expect(end?.data.canceled).toBe(true);
      const tokens = events.filter((e) => e.event === 'token');
      expect(tokens.length).toBeLessThan(400);
      expect(end?.data.tokens_out).toBe(tokens.length);
      // A late reader sees the same: nothing after end.
      const replay = await readSse(`${slow.httpUrl}/v2/tasks/${taskId}/events`);
      expect(replay.events).toEqual(events);
      const view = await getJson(`${slow.httpUrl}/v2/tasks/${taskId}`);
      expect(view.body?.state).toBe('canceled');
      // Cancel again: still 204 (idempotent).
      const again = await request(`${slow.httpUrl}/v2/tasks/${taskId}/cancel`, { method: 'POST' });
      await again.body.dump();
      expect(again.statusCode).toBe(204);
      // The engine freed the sequence.
      await expect.poll(() => slow.sims[0]?.stats().running, { timeout: 5_000 }).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('rejects an unknown model with POOL_UNAVAILABLE and unknown ids with 404', async () => {
    const res = await postJson(`${drover.httpUrl}/v2/tasks`, { model: 'no/such-model', prompt: 'x' });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'POOL_UNAVAILABLE', retriable: true });
    expect(res.body?.correlation_id).toBe(res.headers['x-correlation-id']);
    for (const path of ['', '/events']) {
      const r = await getJson(`${drover.httpUrl}/v2/tasks/does-not-exist${path}`);
      expect(r.status).toBe(404);
      expect(r.body?.code).toBe('NOT_FOUND');
    }
    const c = await postJson(`${drover.httpUrl}/v2/tasks/does-not-exist/cancel`, '{}');
    expect(c.status).toBe(404);
  });

  it('lists the pool with its replicas and every slot free when idle', async () => {
    const res = await getJson(`${drover.httpUrl}/v2/pools`);
    expect(res.status).toBe(200);
    const pools = res.body?.pools as Array<Record<string, unknown>>;
    expect(pools).toHaveLength(1);
    expect(pools[0]).toMatchObject({ pool_id: 'sim', model: DEFAULT_MODEL, ready: 2, slots_busy: 0, slots_total: 16 });
    const health = await getJson(`${drover.httpUrl}/v2/pools/sim/health`);
    expect(health.body).toMatchObject({ pool_id: 'sim', live: true, ready: true });
  });
});
