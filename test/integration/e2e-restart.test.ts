/**
 * A Drover process killed with SIGKILL and restarted on the same data dir finds every admitted
 * task: queued ones run to completion, ones that were streaming end with a retriable error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../../src/protocols/index.js';
import { startDroverProcess, writeConfig, type DroverProcess } from '../helpers/drover-process.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

const running: DroverProcess[] = [];
let dataDir = '';
afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
});

describe('restart - recovery from KV after SIGKILL', () => {
  it('re-queues queued tasks and ends streaming ones with a retriable error', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'drover-restart-'));
    // Two engines with one slot each, 5 tokens/s: long tasks hold both slots, short ones queue.
    const config = await writeConfig(dataDir, {
      sim: { engines: 2, ttft_ms: 1, tokens_per_s: 5, max_num_seqs: 1 },
      log_level: 'info',
    });
    const first = await startDroverProcess(config);
    running.push(first);
    const submit = async (url: string, maxTokens: number) => {
      const res = await postJson(`${url}/v2/tasks`, { model: DEFAULT_MODEL, prompt: 'story', max_tokens: maxTokens });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body?.task_id as string;
    };
    const long = [await submit(first.httpUrl, 1000), await submit(first.httpUrl, 1000)];
    const short = [await submit(first.httpUrl, 3), await submit(first.httpUrl, 3)];
    // Both long tasks are streaming (one token seen each); the short ones wait for a slot.
    for (const id of long) {
      await readSse(`${first.httpUrl}/v2/tasks/${id}/events`, { stopWhen: (e) => e.event === 'token' });
    }
    for (const id of short) expect((await getJson(`${first.httpUrl}/v2/tasks/${id}`)).body?.state).toBe('queued');

    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await startDroverProcess(config);
    running.push(second);
    for (const id of long) {
      const { events } = await readSse(`${second.httpUrl}/v2/tasks/${id}/events`);
      expect(events[0]?.event).toBe('started');
      expect(events.at(-1)?.event).toBe('error');
      expect(events.at(-1)?.data).toMatchObject({ code: 'WORKER_RESET', retriable: true });
      await expect.poll(async () => (await getJson(`${second.httpUrl}/v2/tasks/${id}`)).body?.state).toBe('failed');
    }
    for (const id of short) {
      const { events } = await readSse(`${second.httpUrl}/v2/tasks/${id}/events`);
      expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'token', 'end']);
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);
});
