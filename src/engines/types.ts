/**
 * Contracts of the engine adapters: how a TaskActor streams tokens from an inference engine and
 * how a PoolActor checks it. Implementations: `VllmAdapter` (OpenAI-compatible over undici +
 * eventsource-parser) and `MockAdapter` (in-memory, with fault injection).
 */
import type { EngineKind, EngineLoad } from '../protocols/index.js';

/** One generation request. */
export interface EngineRequest {
  model: string;
  prompt: string;
  max_tokens: number;
  temperature?: number;
  seed?: number;
}

/** What a stream carries: tokens, then exactly one `end` (or it throws an EngineError). */
export type EngineChunk =
  | {
      type: 'token';
      text: string;
      /**
       * Set on the last token decoded from what the engine has sent so far: the next one waits for
       * the engine's next write. A consumer that batches tokens flushes here rather than at the end
       * of the event-loop turn (adapters that cannot tell leave it unset). A step of a stream can
       * end without it: the rest of the engine's write is still being read.
       */
      burstEnd?: true;
    }
  | {
      type: 'end';
      finish_reason: string | null;
      usage?: { prompt_tokens: number; completion_tokens: number };
    };

/** Health as read from `/health` and `/v1/models`. */
export interface EngineHealth {
  /** The server answers at all. */
  live: boolean;
  /** `/health` is 200 and the model list is readable. */
  ready: boolean;
  /** Model ids from `/v1/models`. */
  models: string[];
  /** `max_model_len` from `/v1/models` when the engine reports it. */
  max_model_len?: number;
  /** Why it is not ready. */
  error?: string;
}

/** What one routine check of a serving engine saw (`EngineAdapter.check`). */
export interface EngineCheck {
  /** The server answered at all. */
  live: boolean;
  /** `/health` answered 200. */
  healthy: boolean;
  /** Load from `/metrics`; absent when the engine is not healthy or its metrics were unreadable. */
  load?: EngineLoad;
  /** Why it is not healthy, or why the load is missing. */
  error?: string;
}

/** How a request failed. */
export type EngineErrorKind =
  | 'connect' // connection refused / reset before any response
  | 'http' // non-2xx status
  | 'stream' // the engine reported an error inside the stream
  | 'disconnected' // the stream ended without [DONE] / finish
  | 'timeout' // no byte for longer than the idle timeout
  | 'aborted'; // our own AbortSignal fired

/** A failed engine call, with what we know about it. */
export class EngineError extends Error {
  readonly kind: EngineErrorKind;
  readonly status: number | undefined;
  readonly body: string | undefined;

  constructor(kind: EngineErrorKind, message: string, opts: { status?: number; body?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EngineError';
    this.kind = kind;
    this.status = opts.status;
    this.body = opts.body;
  }
}

/** A worker adapter (llama-orch §A7: health, props, submit-stream). */
export interface EngineAdapter {
  readonly kind: EngineKind;
  readonly baseUrl: string;
  /** `/health` + `/v1/models`; never throws (failures are `live:false` / `ready:false`). */
  health(signal?: AbortSignal): Promise<EngineHealth>;
  /** Current load from `/metrics`; throws EngineError when unreadable. */
  load(signal?: AbortSignal): Promise<EngineLoad>;
  /**
   * The routine check of an engine already seen to serve its model: `/health`, then `/metrics` when
   * healthy, without the model list. Never throws. Right after other traffic to the engine it reuses
   * a pooled connection; otherwise (an idle engine checked every few seconds, whose keep-alive has
   * lapsed) it opens one connection for the check and closes it after.
   */
  check(signal?: AbortSignal): Promise<EngineCheck>;
  /**
   * Streams one generation: tokens then one `end`, in steps of what arrived together (one
   * non-empty array per read of the engine's response, so a fast engine costs one iteration per
   * read rather than per token). Throws EngineError on failure. Aborting `signal` closes the
   * upstream request promptly and ends the iteration with kind `aborted`.
   */
  stream(req: EngineRequest, signal: AbortSignal, opts?: { idleTimeoutMs?: number }): AsyncIterable<readonly EngineChunk[]>;
  /** Releases connection pools. */
  close(): Promise<void>;
}
