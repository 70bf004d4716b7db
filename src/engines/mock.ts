/**
 * An in-memory engine for tests of everything above the adapters (TaskActor, PoolActor, API):
 * no network, deterministic tokens, and faults that can be changed while it runs.
 */
import type { EngineLoad } from '../protocols/index.js';
import { EngineError, type EngineAdapter, type EngineCheck, type EngineChunk, type EngineErrorKind, type EngineHealth, type EngineRequest } from './types.js';

/** Behaviour of a MockAdapter; every field can be changed at runtime with `configure`. */
export interface MockAdapterOptions {
  /** The one model it serves. */
  model: string;
  /** Exact tokens to stream (cut at `max_tokens`), or how many to make up; default `max_tokens` made-up tokens. */
  tokens?: string[] | number;
  /** Delay before the first token, in ms. */
  ttftMs?: number;
  /** Delay between tokens, in ms. */
  interTokenMs?: number;
  /** Fail before any token with this kind. */
  failBeforeFirstToken?: EngineErrorKind;
  /** Fail after this many tokens (kind `failAfterTokensKind`). */
  failAfterTokens?: number;
  /** Kind of the `failAfterTokens` failure; default `disconnected`. */
  failAfterTokensKind?: EngineErrorKind;
  /** Health it reports; default true. */
  healthy?: boolean;
  /** Load it reports; default: its own running streams, nothing waiting, kv_usage 0. */
  load?: EngineLoad;
}

/** EngineAdapter that generates tokens in memory. */
export class MockAdapter implements EngineAdapter {
  readonly kind = 'mock' as const;
  readonly baseUrl: string;
  private options: MockAdapterOptions;
  private running = 0;
  private started = 0;

  constructor(options: MockAdapterOptions) {
    this.options = { ...options };
    this.baseUrl = `mock://${encodeURIComponent(options.model)}`;
  }

  /** Streams in progress. */
  get activeStreams(): number {
    return this.running;
  }

  /** Streams started since construction. */
  get streamsStarted(): number {
    return this.started;
  }

  /** Changes behaviour; applies to streams from their next step on. */
  configure(partial: Partial<MockAdapterOptions>): void {
    this.options = { ...this.options, ...partial };
  }

  async health(): Promise<EngineHealth> {
    if (this.options.healthy === false) return { live: true, ready: false, models: [], error: 'mock engine set unhealthy' };
    return { live: true, ready: true, models: [this.options.model] };
  }

  async load(): Promise<EngineLoad> {
    return this.options.load ?? { running: this.running, waiting: 0, kv_usage: 0 };
  }

  async check(): Promise<EngineCheck> {
    if (this.options.healthy === false) return { live: true, healthy: false, error: 'mock engine set unhealthy' };
    return { live: true, healthy: true, load: await this.load() };
  }

  async *stream(req: EngineRequest, signal: AbortSignal): AsyncGenerator<readonly EngineChunk[]> {
    this.started++;
    this.running++;
    try {
      throwIfAborted(signal);
      if (req.model !== this.options.model) {
        const body = JSON.stringify({ error: { message: `The model \`${req.model}\` does not exist.`, type: 'NotFoundError', param: 'model', code: 404 } });
        throw new EngineError('http', `mock answered 404: The model \`${req.model}\` does not exist.`, { status: 404, body });
      }
      await sleep(this.options.ttftMs ?? 0, signal);
      const before = this.options.failBeforeFirstToken;
      if (before !== undefined) throw new EngineError(before, `mock failure before the first token (${before})`);
      const tokens = tokensFor(this.options.tokens, req.max_tokens);
      for (let i = 0; i < tokens.length; i++) {
        if (i > 0) await sleep(this.options.interTokenMs ?? 0, signal);
        const failAfter = this.options.failAfterTokens;
        if (failAfter !== undefined && i >= failAfter) {
          const kind = this.options.failAfterTokensKind ?? 'disconnected';
          throw new EngineError(kind, `mock failure after ${i} tokens (${kind})`);
        }
        yield [{ type: 'token', text: tokens[i] ?? '' }];
        throwIfAborted(signal);
      }
      const promptTokens = req.prompt.split(/\s+/).filter((word) => word.length > 0).length;
      yield [
        {
          type: 'end',
          finish_reason: tokens.length >= req.max_tokens ? 'length' : 'stop',
          usage: { prompt_tokens: Math.max(1, promptTokens), completion_tokens: tokens.length },
        },
      ];
    } finally {
      this.running--;
    }
  }

  async close(): Promise<void> {}
}

function tokensFor(tokens: string[] | number | undefined, maxTokens: number): string[] {
  if (Array.isArray(tokens)) return tokens.slice(0, maxTokens);
  const count = Math.min(tokens ?? maxTokens, maxTokens);
  return Array.from({ length: count }, (_, i) => ` tok${i}`);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new EngineError('aborted', 'the request was aborted', { cause: signal.reason });
}

/** Waits `ms` (yields to the event loop even for 0), rejecting with kind `aborted` when `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new EngineError('aborted', 'the request was aborted', { cause: signal.reason }));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
