/**
 * Load generator of the admission suite, run as its own process (`node --import tsx
 * bench/admission-load.ts`) so that it does not share an event loop with Drover. A closed loop of
 * `LOAD_CONCURRENCY` workers, each POSTing `/v2/tasks` with `max_tokens: 1` and — in mode
 * `complete` — reading the task's SSE stream until `end` before the next POST. Runs for
 * `LOAD_WARMUP_MS` (not counted) plus `LOAD_DURATION_MS` and prints one JSON line on stdout:
 * {@link LoadResult}.
 */
import { Agent, request } from 'undici';

/** What the load generator prints (one JSON line). */
export interface LoadResult {
  mode: 'accept' | 'complete';
  concurrency: number;
  /** Measured window, seconds. */
  window_s: number;
  /** Tasks accepted (202) in the window; in mode `complete`, tasks whose stream reached `end`. */
  tasks: number;
  /** Per-second counts over the window. */
  per_second: number[];
  /** POST /v2/tasks latency in the window, ms. */
  post_ms: { p50: number; p99: number; samples: number };
  /** Non-202 answers and failed requests (status or error code → count). */
  errors: Record<string, number>;
}

const url = process.env.LOAD_URL ?? 'http://127.0.0.1:8080';
const mode = process.env.LOAD_MODE === 'complete' ? 'complete' : 'accept';
const concurrency = Number(process.env.LOAD_CONCURRENCY ?? 64);
const durationMs = Number(process.env.LOAD_DURATION_MS ?? 5_000);
const warmupMs = Number(process.env.LOAD_WARMUP_MS ?? 1_000);
const model = process.env.LOAD_MODEL ?? 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';

const agent = new Agent({ keepAliveTimeout: 30_000, pipelining: 1 });
const body = JSON.stringify({ model, prompt: 'bench', max_tokens: 1 });
const start = performance.now();
const windowStart = start + warmupMs;
const windowEnd = windowStart + durationMs;
const done: number[] = [];
const latencies: number[] = [];
const errors: Record<string, number> = {};

function count(key: string): void {
  errors[key] = (errors[key] ?? 0) + 1;
}

async function streamUntilEnd(taskId: string): Promise<boolean> {
  const res = await request(`${url}/v2/tasks/${encodeURIComponent(taskId)}/events`, { dispatcher: agent, headers: { accept: 'text/event-stream' } });
  if (res.statusCode !== 200) {
    count(`sse ${res.statusCode}`);
    await res.body.dump();
    return false;
  }
  let buf = '';
  let ended = false;
  for await (const chunk of res.body) {
    buf += (chunk as Buffer).toString();
    if (/^event: ?end$/m.test(buf)) {
      ended = true;
      break;
    }
    if (buf.length > 8_192) buf = buf.slice(-256);
  }
  if (!ended) count('sse closed before end');
  else res.body.destroy();
  return ended;
}

async function worker(): Promise<void> {
  while (performance.now() < windowEnd) {
    const t0 = performance.now();
    try {
      const res = await request(`${url}/v2/tasks`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
      const t1 = performance.now();
      const text = await res.body.text();
      if (res.statusCode !== 202) {
        count(`http ${res.statusCode}`);
        continue;
      }
      if (t1 >= windowStart && t1 < windowEnd) latencies.push(t1 - t0);
      if (mode === 'accept') {
        if (t1 >= windowStart && t1 < windowEnd) done.push(t1);
        continue;
      }
      const taskId = (JSON.parse(text) as { task_id: string }).task_id;
      if (await streamUntilEnd(taskId)) {
        const t2 = performance.now();
        if (t2 >= windowStart && t2 < windowEnd) done.push(t2);
      }
    } catch (err) {
      count((err as { code?: string }).code ?? (err as Error).message);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, () => worker()));
latencies.sort((a, b) => a - b);
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(p * latencies.length) - 1))] ?? NaN;
const seconds = Math.max(1, Math.floor(durationMs / 1_000));
const perSecond = Array.from({ length: seconds }, () => 0);
for (const t of done) {
  const i = Math.floor((t - windowStart) / 1_000);
  if (i < seconds) perSecond[i] = (perSecond[i] ?? 0) + 1;
}
const result: LoadResult = {
  mode,
  concurrency,
  window_s: durationMs / 1_000,
  tasks: done.length,
  per_second: perSecond,
  post_ms: { p50: q(0.5), p99: q(0.99), samples: latencies.length },
  errors,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
await agent.close();
