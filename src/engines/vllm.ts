/**
 * Adapter for vLLM's OpenAI-compatible server: streams `/v1/completions` over undici and
 * eventsource-parser, reads readiness from `/health` + `/v1/models` and load from `/metrics`.
 * Every failure leaves as an EngineError whose kind says where it happened (see types.ts).
 *
 * The routine check of a ready engine is most of what an idle fleet costs: at 1,000 idle hosts it
 * runs a hundred times a second. It skips the model list and sends `/health` and `/metrics` on one
 * connection. When the engine is known to keep connections longer than checks are apart (Drover
 * launched it with a 60 s keep-alive), that connection is the check's own and stays open from one
 * check to the next: a check is two requests and no connect. Otherwise the engine's keep-alive
 * (vLLM's own is 5 s) lapses between checks, so a check opens a connection and closes it itself
 * (through the shared pool it would also cost a per-origin pool, set up and torn down by an idle
 * timer), unless other traffic just left a pooled connection open.
 */
import { Agent, Client, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { EngineLoad } from '../protocols/index.js';
import { describeEngineError, parseErrorBody } from './openai-chunks.js';
import { OpenAiStreamDecoder } from './openai-stream.js';
import { ResponseStream } from './response-stream.js';
import { sumMetrics } from './prometheus-text.js';
import { EngineError, type EngineAdapter, type EngineCheck, type EngineChunk, type EngineErrorKind, type EngineHealth, type EngineRequest } from './types.js';

/** Idle timeout of a stream when the caller gives none. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Deadline of `/health`, `/v1/models` and `/metrics` calls when none is configured. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/**
 * A check this soon after the last exchange over the pool counts on a pooled connection still
 * being open: undici keeps an idle connection 4 s, or the server's keep-alive hint less 2 s (3 s
 * for a 5 s hint), so a busy engine checked every 2 s keeps its connection.
 */
export const DEFAULT_POOLED_CHECK_WITHIN_MS = 2_500;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/**
 * What closes a check's own connection. undici closes a connection by destroying its socket with an
 * error, whose stack Node formats at once (through source maps, when enabled); built once, it costs
 * nothing per check.
 */
const CHECK_DONE = new Error('engine check done: connection closed by the adapter');
/** What stops a stream whose reader left before its end (or whose caller aborted without a reason). */
const STREAM_LEFT = new Error('engine stream left before its end: connection closed by the adapter');
const STREAM_ABORTED = new Error('engine stream aborted');
const LOAD_METRICS = ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'] as const;

/** Options of a VllmAdapter. */
export interface VllmAdapterOptions {
  /** Sent as `Authorization: Bearer …` (vLLM `--api-key`). */
  apiKey?: string;
  /** Connection pool to use; by default the adapter owns one and closes it in `close()`. */
  dispatcher?: Dispatcher;
  /** Deadline of a whole `health()`, `load()` or `check()`, all its requests together (not of streams). */
  requestTimeoutMs?: number;
  /** See {@link DEFAULT_POOLED_CHECK_WITHIN_MS}; 0 makes every check open its own connection. */
  pooledCheckWithinMs?: number;
  /**
   * How long the engine keeps an idle connection, in ms, when known. Checks then keep one
   * connection of their own open between them, closing it after half that time idle (so the
   * engine never closes it first).
   */
  serverKeepAliveMs?: number;
}

const ModelListSchema = z.object({
  data: z.array(z.object({ id: z.string(), max_model_len: z.number().int().positive().nullish() })),
});

/** EngineAdapter for one vLLM server. */
export class VllmAdapter implements EngineAdapter {
  readonly kind = 'vllm' as const;
  readonly baseUrl: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly headers: Record<string, string>;
  private readonly origin: string;
  /** Path (and query) of `/v1/completions` under the base URL. */
  private readonly completionsPath: string;
  private readonly requestTimeoutMs: number;
  private readonly pooledCheckWithinMs: number;
  /** When the last request over the pooled dispatcher ended (`performance.now()`); -Infinity before any. */
  private lastPooledAt = Number.NEGATIVE_INFINITY;
  /** Idle keep-alive of the checks' own connection; undefined: checks do not keep one. */
  private readonly checkKeepAliveMs: number | undefined;
  private checkClient: Client | undefined;

  constructor(baseUrl: string, opts: VllmAdapterOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    ({ origin: this.origin, path: this.completionsPath } = endpointOf(`${this.baseUrl}/v1/completions`));
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new Agent();
    this.headers = opts.apiKey === undefined ? {} : { authorization: `Bearer ${opts.apiKey}` };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pooledCheckWithinMs = opts.pooledCheckWithinMs ?? DEFAULT_POOLED_CHECK_WITHIN_MS;
    const half = opts.serverKeepAliveMs === undefined ? NaN : Math.floor(opts.serverKeepAliveMs / 2);
    this.checkKeepAliveMs = half >= 1 ? half : undefined;
  }

  async health(signal?: AbortSignal): Promise<EngineHealth> {
    return this.checkCall(signal, async (get) => {
      let health: { status: number; text: string };
      try {
        health = await get('/health');
      } catch (error) {
        return { live: false, ready: false, models: [], error: messageOf(error) };
      }
      if (health.status !== 200) return { live: true, ready: false, models: [], error: `/health answered ${health.status}` };
      try {
        const list = await get('/v1/models');
        if (list.status !== 200) return { live: true, ready: false, models: [], error: `/v1/models answered ${list.status}` };
        const parsed = ModelListSchema.safeParse(JSON.parse(list.text));
        if (!parsed.success) return { live: true, ready: false, models: [], error: '/v1/models: unexpected body' };
        const models = parsed.data.data.map((model) => model.id);
        const maxModelLen = parsed.data.data.find((model) => typeof model.max_model_len === 'number')?.max_model_len ?? undefined;
        return maxModelLen === undefined ? { live: true, ready: true, models } : { live: true, ready: true, models, max_model_len: maxModelLen };
      } catch (error) {
        return { live: true, ready: false, models: [], error: messageOf(error) };
      }
    });
  }

  async load(signal?: AbortSignal): Promise<EngineLoad> {
    return this.checkCall(signal, async (get) => loadOf(await get('/metrics')));
  }

  async check(signal?: AbortSignal): Promise<EngineCheck> {
    return this.checkCall(signal, async (get) => {
      let health: { status: number; text: string };
      try {
        health = await get('/health');
      } catch (error) {
        return { live: false, healthy: false, error: messageOf(error) };
      }
      if (health.status !== 200) return { live: true, healthy: false, error: `/health answered ${health.status}` };
      try {
        return { live: true, healthy: true, load: loadOf(await get('/metrics')) };
      } catch (error) {
        return { live: true, healthy: true, error: messageOf(error) };
      }
    });
  }

  /** Runs one health/load/check call: its GETs share one deadline and one {@link checkDispatcher}. */
  private async checkCall<T>(signal: AbortSignal | undefined, run: (get: (path: string) => Promise<{ status: number; text: string }>) => Promise<T>): Promise<T> {
    const deadline = this.deadline(signal);
    const lease = this.checkDispatcher();
    try {
      return await run((path) => this.getWithin(path, deadline, lease.dispatcher));
    } finally {
      deadline.done();
      await lease.release();
    }
  }

  /**
   * Where health, model-list and metrics calls go: the checks' kept connection when there is one;
   * else the streams' pool while it was used within `pooledCheckWithinMs`; else a connection of
   * the call's own, closed after it. Checks never create the streams' pool for this engine: in an
   * undici Agent that is a Pool per origin of about 17 KB (a 2,048-slot request queue) that stays,
   * 17 MB over 1,000 idle hosts.
   */
  private checkDispatcher(): { dispatcher: Dispatcher; release(): Promise<void> } {
    const kept = this.keptCheckClient();
    if (kept !== undefined) return { dispatcher: kept, release: () => Promise.resolve() };
    if (performance.now() - this.lastPooledAt < this.pooledCheckWithinMs) return { dispatcher: this.dispatcher, release: () => Promise.resolve() };
    const own = new Client(this.origin);
    return { dispatcher: own, release: () => own.destroy(CHECK_DONE).catch(() => undefined) };
  }

  /** The checks' own kept-open connection, when the engine's keep-alive allows one. */
  private keptCheckClient(): Client | undefined {
    if (this.checkKeepAliveMs === undefined) return undefined;
    this.checkClient ??= new Client(this.origin, { keepAliveTimeout: this.checkKeepAliveMs, keepAliveMaxTimeout: this.checkKeepAliveMs });
    return this.checkClient;
  }

  async *stream(req: EngineRequest, signal: AbortSignal, opts: { idleTimeoutMs?: number } = {}): AsyncGenerator<readonly EngineChunk[]> {
    if (signal.aborted) throw new EngineError('aborted', 'aborted before the request was sent', { cause: signal.reason });
    const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const call = new ResponseStream();
    const onAbort = (): void => call.abort(signal.reason instanceof Error ? signal.reason : STREAM_ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    // One timer per stream, refreshed on every byte; while our consumer holds a chunk the engine is
    // not to blame, so the timer just re-arms.
    let idleFired = false;
    let consumerHolds = false;
    const idleTimer = setTimeout(() => {
      if (consumerHolds) return void idleTimer.refresh();
      idleFired = true;
      call.abort(new Error('idle timeout'));
    }, idleTimeoutMs);
    const fail = (error: unknown, kind: EngineErrorKind, what: string): EngineError => {
      if (error instanceof EngineError) return error;
      if (signal.aborted) return new EngineError('aborted', 'the request was aborted', { cause: error });
      if (idleFired || isUndiciTimeout(error)) return new EngineError('timeout', `no data from ${this.baseUrl} for ${idleTimeoutMs} ms`, { cause: error });
      return new EngineError(kind, `${what}: ${messageOf(error)}`, { cause: error });
    };
    try {
      try {
        this.dispatcher.dispatch(
          {
            origin: this.origin,
            path: this.completionsPath,
            method: 'POST',
            headers: { ...this.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
            body: JSON.stringify(completionBody(req)),
            headersTimeout: 0,
            bodyTimeout: 0,
          },
          call,
        );
        await call.responseStarted();
      } catch (error) {
        throw fail(error, 'connect', `cannot reach ${this.baseUrl}`);
      }
      idleTimer.refresh();
      if (call.statusCode < 200 || call.statusCode >= 300) {
        const text = await readCapped(call).catch((error: unknown) => {
          throw fail(error, 'disconnected', 'error body cut off');
        });
        const info = parseErrorBody(text);
        const detail = info === undefined ? text.slice(0, 200) : describeEngineError(info);
        throw new EngineError('http', `${this.baseUrl} answered ${call.statusCode}: ${detail}`, { status: call.statusCode, body: text });
      }
      const decoder = new OpenAiStreamDecoder();
      try {
        for (let bytes = await call.read(); bytes !== undefined; bytes = await call.read()) {
          idleTimer.refresh();
          const chunks = decoder.feedBytes(bytes);
          const last = chunks[chunks.length - 1];
          if (last !== undefined) {
            if (last.type === 'token' && !call.buffered) last.burstEnd = true;
            // Chunks already decoded must not leak out after a cancel (no token after abort).
            if (signal.aborted) throw new EngineError('aborted', 'the request was aborted', { cause: signal.reason });
            consumerHolds = true;
            yield chunks;
            consumerHolds = false;
            idleTimer.refresh();
          }
          if (decoder.error !== undefined) throw decoder.error;
        }
      } catch (error) {
        // After [DONE] the stream is complete; a late socket error changes nothing.
        if (decoder.done && !(error instanceof EngineError)) return;
        throw fail(error, 'disconnected', 'the stream broke');
      }
      if (!decoder.done) throw new EngineError('disconnected', `the stream from ${this.baseUrl} ended without [DONE]`);
    } finally {
      clearTimeout(idleTimer);
      this.lastPooledAt = performance.now();
      signal.removeEventListener('abort', onAbort);
      // Leaving early (error, abort, consumer break): drop the connection so the engine frees the slot.
      call.abort(STREAM_LEFT);
    }
  }

  async close(): Promise<void> {
    await this.checkClient?.destroy(CHECK_DONE).catch(() => undefined);
    this.checkClient = undefined;
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /**
   * A request deadline, combined with the caller's signal. Its timer is cleared by `done()` rather
   * than left to run out (as `AbortSignal.timeout` would): a check is over in milliseconds, and a
   * hundred checks a second would otherwise keep five seconds' worth of timers and signals alive.
   */
  private deadline(caller: AbortSignal | undefined): Deadline {
    const controller = new AbortController();
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      controller.abort(new Error(`deadline of ${this.requestTimeoutMs} ms`));
    }, this.requestTimeoutMs);
    timer.unref();
    const onAbort = (): void => controller.abort(caller?.reason);
    if (caller?.aborted === true) onAbort();
    else caller?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      caller,
      expired: () => expired,
      done: () => {
        clearTimeout(timer);
        caller?.removeEventListener('abort', onAbort);
      },
    };
  }

  /** GET within `deadline` over `dispatcher`; throws EngineError connect / timeout / aborted. */
  private async getWithin(path: string, deadline: Deadline, dispatcher: Dispatcher): Promise<{ status: number; text: string }> {
    try {
      const response = await request(`${this.baseUrl}${path}`, { method: 'GET', dispatcher, signal: deadline.signal, headers: this.headers });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (error) {
      if (deadline.caller?.aborted === true) throw new EngineError('aborted', `GET ${path} aborted`, { cause: error });
      if (deadline.expired()) throw new EngineError('timeout', `GET ${path} took longer than ${this.requestTimeoutMs} ms`, { cause: error });
      throw new EngineError('connect', `GET ${this.baseUrl}${path}: ${messageOf(error)}`, { cause: error });
    } finally {
      if (dispatcher === this.dispatcher) this.lastPooledAt = performance.now();
    }
  }
}

/** The signal a request runs under: the caller's abort or the deadline, whichever comes first. */
interface Deadline {
  signal: AbortSignal;
  caller: AbortSignal | undefined;
  /** The deadline passed (rather than the caller aborting). */
  expired(): boolean;
  /** Clears the timer and the listener on the caller's signal. */
  done(): void;
}

/** Load from a `/metrics` response; throws EngineError http when it is not a vLLM scrape. */
function loadOf({ status, text }: { status: number; text: string }): EngineLoad {
  if (status !== 200) throw new EngineError('http', `/metrics answered ${status}`, { status, body: text.slice(0, MAX_ERROR_BODY_BYTES) });
  const sums = sumMetrics(text, LOAD_METRICS);
  const running = sums['vllm:num_requests_running'];
  const waiting = sums['vllm:num_requests_waiting'];
  const kv = sums['vllm:kv_cache_usage_perc'] ?? sums['vllm:gpu_cache_usage_perc'] ?? 0;
  if (running === undefined || waiting === undefined) {
    throw new EngineError('http', '/metrics lacks vllm:num_requests_running / vllm:num_requests_waiting', { status });
  }
  return { running: Math.max(0, running), waiting: Math.max(0, waiting), kv_usage: Math.min(1, Math.max(0, Number.isFinite(kv) ? kv : 0)) };
}

function completionBody(req: EngineRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: req.model,
    prompt: req.prompt,
    max_tokens: req.max_tokens,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.seed !== undefined) body.seed = req.seed;
  return body;
}

async function readCapped(body: ResponseStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (let chunk = await body.read(); chunk !== undefined && size < MAX_ERROR_BODY_BYTES; chunk = await body.read()) {
    chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
}

function isUndiciTimeout(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/**
 * Origin and path (with query) of a URL, for undici's dispatch. A URL that does not parse is kept
 * as the origin, so its requests fail as connect errors.
 */
function endpointOf(url: string): { origin: string; path: string } {
  try {
    const parsed = new URL(url);
    return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
  } catch {
    return { origin: url, path: '/v1/completions' };
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? ` (${error.code})` : '';
    return `${error.message}${code}`;
  }
  return String(error);
}
