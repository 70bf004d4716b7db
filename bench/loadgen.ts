/**
 * Closed-loop streaming load generator, run as its own process by the relay suite:
 * `node --import tsx bench/loadgen.ts '<LoadgenArgs JSON>'`. Each of `concurrency` workers sends
 * one streamed request after another until the duration is over, and records the time to first
 * token, every gap between tokens, and the token count. Worker starts are spread over the warm-up. It prints `{"phase":"start"}` when load
 * begins and one `LoadgenResult` JSON line at the end.
 *
 * - `openai`: `POST /v1/completions` with `stream: true`; every `data:` chunk with a choice is one
 *   token (the simulated engine sends one token per chunk).
 * - `drover`: `POST /v2/tasks` with `Accept: text/event-stream`, which answers with the task's
 *   events; every `token` event is one token, or `batch.length` tokens when it carries a `batch`.
 * - `drover-two-step`: the same through `POST /v2/tasks` (202), then `GET /v2/tasks/:id/events`.
 *   TTFT runs from the POST in both.
 */
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';

/** What the load generator is asked to do. */
export interface LoadgenArgs {
  mode: 'openai' | 'drover' | 'drover-two-step';
  /** Origin, e.g. `http://127.0.0.1:8080`. */
  url: string;
  model: string;
  concurrency: number;
  /** Measured window, after the warm-up. */
  durationMs: number;
  /** Load before the window whose streams are not recorded. */
  warmupMs: number;
  maxTokens: number;
}

/** The one line the load generator prints at the end. */
export interface LoadgenResult {
  /** Tokens received inside the measured window, per second. */
  tokensPerSec: number;
  /** Tokens received over the whole run (warm-up and tail included), for CPU per token. */
  totalTokens: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  gapP99Ms: number;
  ttftSamples: number;
  gapSamples: number;
  /** Streams started in the window that ended normally. */
  streamsCompleted: number;
  errors: number;
  firstError?: string;
}

interface Recorder {
  recording: boolean;
  windowStart: number;
  windowEnd: number;
  windowTokens: number;
  totalTokens: number;
  ttfts: number[];
  gaps: number[];
  completed: number;
  errors: number;
  firstError: string | undefined;
}

/** One stream's token arrivals, fed by the SSE parser. */
class StreamStats {
  private last = -1;
  tokens = 0;
  constructor(
    private readonly rec: Recorder,
    private readonly started: number,
    private readonly record: boolean,
  ) {}

  onTokens(n: number): void {
    const now = performance.now();
    const rec = this.rec;
    rec.totalTokens += n;
    if (now >= rec.windowStart && now < rec.windowEnd) rec.windowTokens += n;
    if (this.record) {
      if (this.last < 0) rec.ttfts.push(now - this.started);
      else rec.gaps.push(now - this.last);
      // Tokens of one batch arrive together: their gaps are zero.
      for (let i = 1; i < n; i += 1) rec.gaps.push(0);
    }
    this.last = now;
    this.tokens += n;
  }
}

function fail(rec: Recorder, message: string): void {
  rec.errors += 1;
  rec.firstError ??= message;
}

/** Splits an SSE byte stream into events and hands each event's text to `onEvent`. */
async function readEvents(body: AsyncIterable<Buffer>, onEvent: (event: string) => boolean | void): Promise<void> {
  let buf = '';
  for await (const chunk of body) {
    buf += chunk.toString('utf8');
    let end: number;
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (onEvent(event) === true) return;
    }
  }
}

async function openaiStream(pool: Pool, args: LoadgenArgs, rec: Recorder, record: boolean): Promise<void> {
  const started = performance.now();
  const stats = new StreamStats(rec, started, record);
  const res = await pool.request({
    method: 'POST',
    path: '/v1/completions',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: args.model, prompt: 'Hello', max_tokens: args.maxTokens, stream: true }),
  });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  let done = false;
  let streamError: string | undefined;
  await readEvents(res.body, (event) => {
    if (!event.startsWith('data: ')) return;
    if (event.startsWith('data: [DONE]')) {
      done = true;
      return true;
    }
    if (event.includes('"choices":[{')) stats.onTokens(1);
    else if (event.includes('"error"')) streamError = event.slice(6, 206);
  });
  if (streamError !== undefined) throw new Error(`stream error: ${streamError}`);
  if (!done) throw new Error(`stream ended without [DONE] after ${stats.tokens} tokens`);
  if (stats.tokens !== args.maxTokens) throw new Error(`got ${stats.tokens} tokens, wanted ${args.maxTokens}`);
}

/** One request: `POST /v2/tasks` with `Accept: text/event-stream` answers with the task's event stream. */
async function streamedSubmit(pool: Pool, body: string): Promise<Dispatcher.ResponseData> {
  const res = await pool.request({ method: 'POST', path: '/v2/tasks', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`streamed submit HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  return res;
}

/** Two requests: `POST /v2/tasks` for the 202, then `GET /v2/tasks/:id/events`. */
async function submitThenStream(pool: Pool, body: string): Promise<Dispatcher.ResponseData> {
  const submit = await pool.request({ method: 'POST', path: '/v2/tasks', headers: { 'content-type': 'application/json' }, body });
  const submitText = await submit.body.text();
  if (submit.statusCode !== 202) throw new Error(`submit HTTP ${submit.statusCode}: ${submitText.slice(0, 200)}`);
  const { task_id: taskId } = JSON.parse(submitText) as { task_id: string };
  const res = await pool.request({ method: 'GET', path: `/v2/tasks/${encodeURIComponent(taskId)}/events`, headers: { accept: 'text/event-stream' } });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`events HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  return res;
}

async function droverStream(pool: Pool, args: LoadgenArgs, rec: Recorder, record: boolean): Promise<void> {
  const started = performance.now();
  const stats = new StreamStats(rec, started, record);
  const body = JSON.stringify({ model: args.model, prompt: 'Hello', max_tokens: args.maxTokens });
  const res = args.mode === 'drover' ? await streamedSubmit(pool, body) : await submitThenStream(pool, body);
  let ended = false;
  let streamError: string | undefined;
  await readEvents(res.body, (event) => {
    const typeAt = event.indexOf('event: ');
    if (typeAt === -1) return;
    const typeEnd = event.indexOf('\n', typeAt);
    const type = event.slice(typeAt + 7, typeEnd === -1 ? undefined : typeEnd);
    if (type === 'token') {
      if (event.includes('"batch"')) {
        const data = JSON.parse(event.slice(event.indexOf('data: ') + 6)) as { batch?: unknown[] };
        stats.onTokens(Array.isArray(data.batch) ? data.batch.length : 1);
      } else {
        stats.onTokens(1);
      }
    } else if (type === 'end') {
      ended = true;
      return true;
    } else if (type === 'error') {
      streamError = event.slice(event.indexOf('data: ') + 6, event.indexOf('data: ') + 206);
      return true;
    }
  });
  if (streamError !== undefined) throw new Error(`error event: ${streamError}`);
  if (!ended) throw new Error(`events ended without 'end' after ${stats.tokens} tokens`);
  if (stats.tokens !== args.maxTokens) throw new Error(`got ${stats.tokens} tokens, wanted ${args.maxTokens}`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** Runs the load described by `args` and returns its result. */
export async function runLoad(args: LoadgenArgs): Promise<LoadgenResult> {
  const pool = new Pool(args.url, {
    connections: args.concurrency,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const t0 = performance.now();
  const rec: Recorder = {
    recording: false,
    windowStart: t0 + args.warmupMs,
    windowEnd: t0 + args.warmupMs + args.durationMs,
    windowTokens: 0,
    totalTokens: 0,
    ttfts: [],
    gaps: [],
    completed: 0,
    errors: 0,
    firstError: undefined,
  };
  const stream = args.mode === 'openai' ? openaiStream : droverStream;
  // Worker starts are spread over the warm-up so streams do not run in lock-step.
  const worker = async (_: unknown, index: number): Promise<void> => {
    if (index > 0) await new Promise((r) => setTimeout(r, (index * args.warmupMs) / args.concurrency));
    for (;;) {
      const now = performance.now();
      if (now >= rec.windowEnd) return;
      const record = now >= rec.windowStart;
      try {
        await stream(pool, args, rec, record);
        if (record) rec.completed += 1;
      } catch (err) {
        fail(rec, err instanceof Error ? err.message : String(err));
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  process.stdout.write('{"phase":"start"}\n');
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  await pool.close();
  const ttfts = Float64Array.from(rec.ttfts).sort();
  const gaps = Float64Array.from(rec.gaps).sort();
  return {
    tokensPerSec: rec.windowTokens / (args.durationMs / 1000),
    totalTokens: rec.totalTokens,
    ttftP50Ms: percentile(ttfts, 50),
    ttftP99Ms: percentile(ttfts, 99),
    gapP99Ms: percentile(gaps, 99),
    ttftSamples: ttfts.length,
    gapSamples: gaps.length,
    streamsCompleted: rec.completed,
    errors: rec.errors,
    ...(rec.firstError === undefined ? {} : { firstError: rec.firstError }),
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as LoadgenArgs;
  const result = await runLoad(args);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`loadgen: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
