/**
 * Adapter for vLLM's OpenAI-compatible server: streams `/v1/completions` over undici and
 * eventsource-parser, reads readiness from `/health` + `/v1/models` and load from `/metrics`.
 * Every failure leaves as an EngineError whose kind says where it happened (see types.ts).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { EngineLoad } from '../protocols/index.js';
import { describeEngineError, parseErrorBody } from './openai-chunks.js';
import { OpenAiStreamDecoder } from './openai-stream.js';
import { parsePrometheusText, sumSamples } from './prometheus-text.js';
import { EngineError, type EngineAdapter, type EngineChunk, type EngineErrorKind, type EngineHealth, type EngineRequest } from './types.js';

/** Idle timeout of a stream when the caller gives none. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Deadline of `/health`, `/v1/models` and `/metrics` calls when none is configured. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Options of a VllmAdapter. */
export interface VllmAdapterOptions {
  /** Sent as `Authorization: Bearer …` (vLLM `--api-key`). */
  apiKey?: string;
  /** Connection pool to use; by default the adapter owns one and closes it in `close()`. */
  dispatcher?: Dispatcher;
  /** Deadline of the health, model-list and metrics calls (not of streams). */
  requestTimeoutMs?: number;
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
  private readonly requestTimeoutMs: number;

  constructor(baseUrl: string, opts: VllmAdapterOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new Agent();
    this.headers = opts.apiKey === undefined ? {} : { authorization: `Bearer ${opts.apiKey}` };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async health(signal?: AbortSignal): Promise<EngineHealth> {
    let health: { status: number; text: string };
    try {
      health = await this.get('/health', signal);
    } catch (error) {
      return { live: false, ready: false, models: [], error: messageOf(error) };
    }
    if (health.status !== 200) return { live: true, ready: false, models: [], error: `/health answered ${health.status}` };
    try {
      const list = await this.get('/v1/models', signal);
      if (list.status !== 200) return { live: true, ready: false, models: [], error: `/v1/models answered ${list.status}` };
      const parsed = ModelListSchema.safeParse(JSON.parse(list.text));
      if (!parsed.success) return { live: true, ready: false, models: [], error: '/v1/models: unexpected body' };
      const models = parsed.data.data.map((model) => model.id);
      const maxModelLen = parsed.data.data.find((model) => typeof model.max_model_len === 'number')?.max_model_len ?? undefined;
      return maxModelLen === undefined ? { live: true, ready: true, models } : { live: true, ready: true, models, max_model_len: maxModelLen };
    } catch (error) {
      return { live: true, ready: false, models: [], error: messageOf(error) };
    }
  }

  async load(signal?: AbortSignal): Promise<EngineLoad> {
    const { status, text } = await this.get('/metrics', signal);
    if (status !== 200) throw new EngineError('http', `/metrics answered ${status}`, { status, body: text.slice(0, MAX_ERROR_BODY_BYTES) });
    const samples = parsePrometheusText(text);
    const running = sumSamples(samples, 'vllm:num_requests_running');
    const waiting = sumSamples(samples, 'vllm:num_requests_waiting');
    const kv = sumSamples(samples, 'vllm:kv_cache_usage_perc') ?? sumSamples(samples, 'vllm:gpu_cache_usage_perc') ?? 0;
    if (running === undefined || waiting === undefined) {
      throw new EngineError('http', '/metrics lacks vllm:num_requests_running / vllm:num_requests_waiting', { status });
    }
    return { running: Math.max(0, running), waiting: Math.max(0, waiting), kv_usage: Math.min(1, Math.max(0, Number.isFinite(kv) ? kv : 0)) };
  }

  async *stream(req: EngineRequest, signal: AbortSignal, opts: { idleTimeoutMs?: number } = {}): AsyncGenerator<EngineChunk> {
    if (signal.aborted) throw new EngineError('aborted', 'aborted before the request was sent', { cause: signal.reason });
    const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const upstream = new AbortController();
    const onAbort = (): void => upstream.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // One timer per stream, refreshed on every byte; while our consumer holds a chunk the engine is
    // not to blame, so the timer just re-arms.
    let idleFired = false;
    let consumerHolds = false;
    const idleTimer = setTimeout(() => {
      if (consumerHolds) return void idleTimer.refresh();
      idleFired = true;
      upstream.abort(new Error('idle timeout'));
    }, idleTimeoutMs);
    const fail = (error: unknown, kind: EngineErrorKind, what: string): EngineError => {
      if (error instanceof EngineError) return error;
      if (signal.aborted) return new EngineError('aborted', 'the request was aborted', { cause: error });
      if (idleFired || isUndiciTimeout(error)) return new EngineError('timeout', `no data from ${this.baseUrl} for ${idleTimeoutMs} ms`, { cause: error });
      return new EngineError(kind, `${what}: ${messageOf(error)}`, { cause: error });
    };
    let body: Dispatcher.ResponseData['body'] | undefined;
    try {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(`${this.baseUrl}/v1/completions`, {
          method: 'POST',
          dispatcher: this.dispatcher,
          signal: upstream.signal,
          headers: { ...this.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify(completionBody(req)),
          headersTimeout: 0,
          bodyTimeout: 0,
        });
      } catch (error) {
        throw fail(error, 'connect', `cannot reach ${this.baseUrl}`);
      }
      body = response.body;
      idleTimer.refresh();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await readCapped(body).catch((error: unknown) => {
          throw fail(error, 'disconnected', 'error body cut off');
        });
        const info = parseErrorBody(text);
        const detail = info === undefined ? text.slice(0, 200) : describeEngineError(info);
        throw new EngineError('http', `${this.baseUrl} answered ${response.statusCode}: ${detail}`, { status: response.statusCode, body: text });
      }
      const decoder = new OpenAiStreamDecoder();
      const utf8 = new TextDecoder();
      try {
        for await (const bytes of body as AsyncIterable<Buffer>) {
          idleTimer.refresh();
          for (const chunk of decoder.feed(utf8.decode(bytes, { stream: true }))) {
            // Chunks already decoded must not leak out after a cancel (no token after abort).
            if (signal.aborted) throw new EngineError('aborted', 'the request was aborted', { cause: signal.reason });
            consumerHolds = true;
            yield chunk;
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
      signal.removeEventListener('abort', onAbort);
      // Leaving early (error, abort, consumer break): drop the socket so the engine frees the slot.
      if (body !== undefined && !body.readableEnded) body.destroy();
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** GET with the request deadline; throws EngineError connect / timeout / aborted. */
  private async get(path: string, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      const response = await request(`${this.baseUrl}${path}`, { method: 'GET', dispatcher: this.dispatcher, signal: combined, headers: this.headers });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (error) {
      if (signal?.aborted === true) throw new EngineError('aborted', `GET ${path} aborted`, { cause: error });
      if (timeout.aborted) throw new EngineError('timeout', `GET ${path} took longer than ${this.requestTimeoutMs} ms`, { cause: error });
      throw new EngineError('connect', `GET ${this.baseUrl}${path}: ${messageOf(error)}`, { cause: error });
    }
  }
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

async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_ERROR_BODY_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
}

function isUndiciTimeout(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? ` (${error.code})` : '';
    return `${error.message}${code}`;
  }
  return String(error);
}
