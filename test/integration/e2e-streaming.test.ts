/**
 * End to end through a whole Drover process (real nats-server, real HTTP, simulated vLLM engines):
 * event order, token accounting, late and resuming SSE clients, race-free cancel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEFAULT_MODEL } from '../../src/protocols/index.js';
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
    // Every event carries an increasing id: `S`, or `S-k` for token k of a batch stored as event S.
    const ids = events.map((e) => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(e.id ?? '');
      expect(m, `id ${e.id}`).not.toBeNull();
      return [Number(m![1]), m![2] === undefined ? Number.POSITIVE_INFINITY : Number(m![2])] as const;
    });
    const increasing = ids.every(([s, k], i) => i === 0 || s > ids[i - 1]![0] || (s === ids[i - 1]![0] && k > ids[i - 1]![1]));
    expect(increasing, JSON.stringify(events.map((e) => e.id))).toBe(true);

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
    expect(events.every((e) => /^\d+$/.test(e.id ?? ''))).toBe(true);
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
