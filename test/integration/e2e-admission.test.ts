/**
 * Admission end to end: a full queue answers 429 with Retry-After and X-Backoff-Ms (policy
 * reject), or evicts the oldest batch task to admit newer work (policy drop-lru).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { request } from 'undici';
import { DEFAULT_MODEL, KV_BUCKETS, STREAMS, subjects, TaskRecordSchema, type TaskRecord } from '../../src/protocols/index.js';
import type { KvStore } from '../../src/transport/index.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

let drover: TestDrover | undefined;
afterEach(async () => {
  await drover?.close();
  drover = undefined;
});

/** One engine with one slot, slow: a long task holds the only slot for the whole test. */
async function start(policy: 'reject' | 'drop-lru'): Promise<TestDrover> {
  drover = await startTestDrover({
    sim: { engines: 1, ttft_ms: 1, tokens_per_s: 5, max_num_seqs: 1 },
    admission: { capacity: 2, policy },
  });
  return drover;
}

async function submit(d: TestDrover, priority: 'interactive' | 'batch', maxTokens = 500) {
  return postJson(`${d.httpUrl}/v2/tasks`, { model: DEFAULT_MODEL, prompt: 'p', priority, max_tokens: maxTokens });
}

async function state(d: TestDrover, id: unknown): Promise<unknown> {
  return (await getJson(`${d.httpUrl}/v2/tasks/${String(id)}`)).body?.state;
}

async function cancelAll(d: TestDrover, ids: unknown[]): Promise<void> {
  for (const id of ids) await (await request(`${d.httpUrl}/v2/tasks/${String(id)}/cancel`, { method: 'POST' })).body.dump();
}

describe('admission - full queue', () => {
  it('rejects with 429, Retry-After and X-Backoff-Ms under policy reject', async () => {
    const d = await start('reject');
    const running = await submit(d, 'interactive');
    expect(running.status).toBe(202);
    expect(running.body?.queue_position).toBe(0);
    await expect.poll(() => state(d, running.body?.task_id)).toBe('running');
    const q1 = await submit(d, 'batch');
    const q2 = await submit(d, 'batch');
    expect([q1.status, q2.status]).toEqual([202, 202]);
    expect([q1.body?.queue_position, q2.body?.queue_position]).toEqual([0, 1]);

    const full = await submit(d, 'interactive');
    expect(full.status).toBe(429);
    expect(full.body).toMatchObject({ code: 'ADMISSION_REJECT', retriable: true, policy_label: 'reject' });
    const backoff = Number(full.headers['x-backoff-ms']);
    expect(backoff).toBeGreaterThan(0);
    expect(Number(full.headers['retry-after'])).toBe(Math.max(1, Math.ceil(backoff / 1000)));
    expect(full.body?.retry_after_ms).toBe(backoff);

    const metrics = await (await request(`${d.httpUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/drover_tasks_rejected_total\{reason="ADMISSION_REJECT"\} 1/);
    await cancelAll(d, [running.body?.task_id, q1.body?.task_id, q2.body?.task_id]);
  });

  it('evicts the oldest batch task first under policy drop-lru, never interactive while batch waits', async () => {
    const d = await start('drop-lru');
    const running = await submit(d, 'interactive');
    const b1 = await submit(d, 'batch');
    const b2 = await submit(d, 'batch');
    // Full (b1, b2). An interactive task evicts the oldest batch task, b1.
    const i1 = await submit(d, 'interactive');
    expect(i1.status).toBe(202);
    expect(i1.body?.queue_position).toBe(0);
    const evicted = await readSse(`${d.httpUrl}/v2/tasks/${String(b1.body?.task_id)}/events`);
    expect(evicted.events.map((e) => e.event)).toEqual(['error']);
    expect(evicted.events[0]?.data).toMatchObject({ code: 'QUEUE_FULL_DROP_LRU', retriable: true, policy_label: 'drop-lru' });
    await expect.poll(() => state(d, b1.body?.task_id)).toBe('failed');
    await expect.poll(() => state(d, b2.body?.task_id)).toBe('queued');

    // Full (i1, b2). A batch task also displaces the oldest batch task, b2.
    const b3 = await submit(d, 'batch');
    expect(b3.status).toBe(202);
    await expect.poll(() => state(d, b2.body?.task_id)).toBe('failed');
    // Full (i1, b3). Interactive i2 displaces b3, leaving only interactive work.
    const i2 = await submit(d, 'interactive');
    expect(i2.status).toBe(202);
    await expect.poll(() => state(d, b3.body?.task_id)).toBe('failed');
    // Full of interactive work: batch is refused, not admitted over interactive work.
    const b4 = await submit(d, 'batch');
    expect(b4.status).toBe(429);
    expect(b4.body).toMatchObject({ code: 'QUEUE_FULL_DROP_LRU', policy_label: 'drop-lru' });
    expect(b4.headers['retry-after']).toBeDefined();
    expect(b4.headers['x-backoff-ms']).toBeDefined();
    await expect.poll(() => state(d, i1.body?.task_id)).toBe('queued');
    await expect.poll(() => state(d, i2.body?.task_id)).toBe('queued');
    await cancelAll(d, [running.body?.task_id, i1.body?.task_id, i2.body?.task_id]);
  });

  it('a burst of concurrent submits (records written in parallel) never overfills the queue or admits an id twice', async () => {
    const d = await start('reject');
    const running = await submit(d, 'interactive');
    await expect.poll(() => state(d, running.body?.task_id)).toBe('running');
    // Ten at once while every record write is in flight: exactly `capacity` (2) are admitted.
    const burst = await Promise.all(Array.from({ length: 10 }, () => submit(d, 'batch')));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 202, ...Array<number>(8).fill(429)]);
    const admitted = burst.filter((r) => r.status === 202);
    expect(admitted.map((r) => r.body?.queue_position).sort()).toEqual([0, 1]);
    await cancelAll(d, [running.body?.task_id, ...admitted.map((r) => r.body?.task_id)]);

    // The same explicit task_id twice at once: one 202, one 409 TASK_EXISTS.
    const body = { model: DEFAULT_MODEL, prompt: 'p', task_id: 'same-id-twice', max_tokens: 2 };
    const twins = await Promise.all([postJson(`${d.httpUrl}/v2/tasks`, body), postJson(`${d.httpUrl}/v2/tasks`, body)]);
    expect(twins.map((r) => r.status).sort()).toEqual([202, 409]);
    expect(twins.find((r) => r.status === 409)?.body).toMatchObject({ code: 'TASK_EXISTS' });
  });
});

describe('admission - a task that finds a free slot', () => {
  /** A record no Drover process owns, written first so the test knows the bucket's next revision. */
  async function sentinel(records: KvStore<TaskRecord>): Promise<number> {
    const spec = { task_id: 'sentinel', session_id: 's', model: 'm', prompt: 'p', max_tokens: 1, deadline_ms: 1_000, priority: 'batch' as const };
    return records.put('sentinel', { task_id: 'sentinel', spec, state: 'completed', owner: 'elsewhere', correlation_id: 'c', admitted_at: 0, attempts: 0 });
  }

  it('is recorded running on its replica in its first write, and costs two record writes in all', async () => {
    const d = await start('reject');
    const records = await d.transport.kv(KV_BUCKETS.tasks, TaskRecordSchema);
    const before = await sentinel(records);

    const slow = await submit(d, 'interactive');
    expect(slow.status).toBe(202);
    expect(slow.body?.queue_position).toBe(0);
    // Durable by the 202, and already running: no `queued` write came first.
    const first = await records.get(String(slow.body?.task_id));
    expect(first?.revision).toBe(before + 1);
    expect(first?.value).toMatchObject({ state: 'running', attempts: 1, pool_id: expect.any(String), replica_id: expect.any(String) });
    expect(first?.value.started_at).toBeGreaterThanOrEqual(first?.value.admitted_at ?? Infinity);

    // The next one waits for the slot: it is created queued, and written running when it starts.
    const waiting = await submit(d, 'interactive', 2);
    expect((await records.get(String(waiting.body?.task_id)))).toMatchObject({ revision: before + 2, value: { state: 'queued', attempts: 0 } });
    await cancelAll(d, [slow.body?.task_id]);
    const streamed = await readSse(`${d.httpUrl}/v2/tasks/${String(waiting.body?.task_id)}/events`);
    expect(streamed.events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'end']);
    await expect.poll(() => records.get(String(waiting.body?.task_id))).toMatchObject({ value: { state: 'completed', attempts: 1, tokens_out: 2 } });

    // A task that runs at once on an idle engine: created running, then completed; nothing in between.
    const mark = await sentinel(records);
    const quick = await submit(d, 'interactive', 1);
    const id = String(quick.body?.task_id);
    await readSse(`${d.httpUrl}/v2/tasks/${id}/events`);
    await expect.poll(() => records.get(id)).toMatchObject({ revision: mark + 2, value: { state: 'completed', tokens_out: 1 } });
  });

  it('gives its slot back when the submit is refused after the slot was taken', async () => {
    const d = await start('reject');
    const body = { model: DEFAULT_MODEL, prompt: 'p', task_id: 'reused-id', max_tokens: 1 };
    const once = await postJson(`${d.httpUrl}/v2/tasks`, body);
    expect(once.status).toBe(202);
    await readSse(`${d.httpUrl}/v2/tasks/reused-id/events`);
    // The engine's one slot is free, so the second submit holds it until its record write fails.
    const again = await postJson(`${d.httpUrl}/v2/tasks`, body);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'TASK_EXISTS' });

    // Had the refused submit kept the slot, this one would wait in the queue forever.
    const next = await submit(d, 'interactive', 1);
    await expect.poll(() => state(d, next.body?.task_id), { timeout: 5_000 }).toBe('completed');
    // The refused submit published nothing: the stream holds the first task's three events.
    const nc = await connect({ servers: d.natsUrl });
    try {
      const subject = subjects.taskEvents('reused-id');
      const info = await (await nc.jetstreamManager()).streams.info(STREAMS.events.name, { subjects_filter: subject });
      expect(info.state.subjects).toEqual({ [subject]: 3 });
    } finally {
      await nc.close();
    }
  });
});
