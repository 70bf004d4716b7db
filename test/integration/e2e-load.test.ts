/**
 * Two concurrent clients streaming 200 tasks each: no task lost or duplicated, every stream
 * complete and consistent, and every slot released afterwards (seen through /v2/pools and
 * /metrics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEFAULT_MODEL } from '../../src/protocols/index.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

let drover: TestDrover;
beforeAll(async () => {
  drover = await startTestDrover({ sim: { engines: 2, ttft_ms: 1, tokens_per_s: 0, max_num_seqs: 8 } });
});
afterAll(async () => {
  await drover?.close();
});

interface Outcome {
  taskId: string;
  maxTokens: number;
  tokens: number;
  tokensOut: unknown;
  order: string;
}

async function client(name: string, tasks: number, concurrency: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks) {
      const i = next++;
      const maxTokens = 1 + (i % 16);
      const res = await postJson(`${drover.httpUrl}/v2/tasks`, {
        model: DEFAULT_MODEL,
        prompt: `${name} task ${i}`,
        max_tokens: maxTokens,
        priority: i % 3 === 0 ? 'batch' : 'interactive',
      });
      if (res.status !== 202) throw new Error(`submit ${i} → ${res.status} ${JSON.stringify(res.body)}`);
      const taskId = res.body?.task_id as string;
      const { events } = await readSse(`${drover.httpUrl}/v2/tasks/${taskId}/events`);
      const kinds = events.map((e) => e.event);
      out.push({
        taskId,
        maxTokens,
        tokens: kinds.filter((k) => k === 'token').length,
        tokensOut: events.at(-1)?.data.tokens_out,
        order: `${kinds[0]}…${kinds.at(-1)}`,
      });
    }
  }
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return out;
}

describe('load - two clients, 200 tasks each', () => {
  it('loses and duplicates nothing and releases every slot', async () => {
    const [a, b] = await Promise.all([client('a', 200, 24), client('b', 200, 24)]);
    const all = [...(a ?? []), ...(b ?? [])];
    expect(all).toHaveLength(400);
    expect(new Set(all.map((o) => o.taskId)).size).toBe(400);
    for (const o of all) {
      expect(o.order).toBe('started…end');
      expect(o.tokens).toBe(o.maxTokens);
      expect(o.tokensOut).toBe(o.tokens);
    }

    const pools = (await getJson(`${drover.httpUrl}/v2/pools`)).body?.pools as Array<{ slots_busy: number; queued: number; replicas: Array<{ slots_busy: number }> }>;
    expect(pools[0]?.slots_busy).toBe(0);
    expect(pools[0]?.queued).toBe(0);
    expect(pools[0]?.replicas.map((r) => r.slots_busy)).toEqual([0, 0]);

    const metrics = await (await request(`${drover.httpUrl}/metrics`)).body.text();
    const busy = [...metrics.matchAll(/^drover_slots_busy\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
    expect(busy).toEqual([0, 0]);
    expect(metrics).toMatch(/^drover_tasks_ended_total\{outcome="completed"\} 400$/m);
    expect(metrics).toMatch(/^drover_queue_depth\{priority="interactive"\} 0$/m);
    expect(metrics).toMatch(/^drover_queue_depth\{priority="batch"\} 0$/m);
    const tokens = all.reduce((n, o) => n + o.tokens, 0);
    expect(metrics).toMatch(new RegExp(`^drover_tokens_out_total\\{pool_id="sim"\\} ${tokens}$`, 'm'));
  });
});
