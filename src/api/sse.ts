/**
 * The SSE writer for task events: the hot path of the API. Each event is one `res.write` of
 * `id: <position>\nevent: <type>\ndata: <json>\n\n`, sent immediately (headers are flushed up front and
 * nothing is buffered here), with backpressure honoured by waiting for `drain`. Once the stream is
 * open its status stays 200: failures become an `error` event, then the stream ends.
 */
import type { ServerResponse } from 'node:http';
import { isTerminalEvent, type ErrorEnvelope, type TaskEvent } from '../protocols/index.js';
import { CORRELATION_HEADER } from './correlation.js';

/** Default idle interval before a `: ping` heartbeat. */
export const DEFAULT_HEARTBEAT_MS = 15_000;

const PING = ': ping\n\n';

/** How a stream ended. */
export type SseOutcome = 'completed' | 'disconnected' | 'failed' | 'shutdown';

/** What `pipeTaskEvents` needs besides the response. */
export interface SsePipeOptions {
  /** Opens the event iteration; the signal aborts when the client goes away. */
  open(signal: AbortSignal): AsyncIterable<TaskEvent>;
  /** Turns an event into SSE text (one frame, or one per token of a batch). */
  format(event: TaskEvent): string;
  /** Echoed in the `X-Correlation-Id` header. */
  correlationId: string;
  /** More response headers (a streamed submit names its task here). */
  headers?: Record<string, string>;
  /** Idle interval before a heartbeat comment. */
  heartbeatMs: number;
  /** Turns an iteration failure into the `error` event's envelope (and logs it). */
  onError(err: unknown): ErrorEnvelope;
  /** Fires when the server shuts down: the stream ends cleanly so the client resumes elsewhere. */
  shutdown: AbortSignal;
}

/** Resolves on `drain`, `close` or abort, so neither a vanished client nor shutdown leaves the writer waiting. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    signal.addEventListener('abort', done);
  });
}

/**
 * Writes the SSE head on `res` (already hijacked from fastify), then every event of
 * `opts.open(signal)` until the terminal event, the end of the iteration, a failure (sent as an
 * `error` event), the client's disconnect or the server's shutdown (both abort the signal). Always
 * ends the response.
 */
export async function pipeTaskEvents(res: ServerResponse, opts: SsePipeOptions): Promise<SseOutcome> {
  // The client left while the request was being handled (a streamed submit waits for admission):
  // its `close` is gone already, and a write would wait for a `drain` that never comes.
  if (res.destroyed) return 'disconnected';
  const abort = new AbortController();
  let closed = false;
  const onClose = (): void => {
    closed = true;
    if (!res.writableEnded) abort.abort();
  };
  res.once('close', onClose);
  const onShutdown = (): void => abort.abort();
  if (opts.shutdown.aborted) abort.abort();
  else opts.shutdown.addEventListener('abort', onShutdown, { once: true });

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    ...opts.headers,
    [CORRELATION_HEADER]: opts.correlationId,
  });
  res.flushHeaders();

  // A ping goes out on a tick that follows a whole interval without events: one flag store per event.
  let active = false;
  const heartbeat = setInterval(() => {
    if (active) active = false;
    else if (!closed && !res.writableNeedDrain) res.write(PING);
  }, opts.heartbeatMs);
  heartbeat.unref();

  let outcome: SseOutcome = 'completed';
  try {
    for await (const event of opts.open(abort.signal)) {
      if (closed || abort.signal.aborted) break;
      active = true;
      const flushed = res.write(opts.format(event));
      if (isTerminalEvent(event)) break;
      if (!flushed) await drained(res, abort.signal);
    }
  } catch (err) {
    if (closed || abort.signal.aborted) {
      outcome = closed ? 'disconnected' : 'shutdown';
    } else {
      outcome = 'failed';
      res.write(`event: error\ndata: ${JSON.stringify(opts.onError(err))}\n\n`);
    }
  } finally {
    clearInterval(heartbeat);
    opts.shutdown.removeEventListener('abort', onShutdown);
    if (!closed) {
      if (!opts.shutdown.aborted) res.end();
      // At shutdown the keep-alive socket must go too, or the server's close() waits for it; a
      // client that stopped reading cannot be ended politely and is cut off.
      else if (res.writableNeedDrain) res.destroy();
      else {
        const socket = res.socket;
        res.end(() => socket?.end());
      }
    }
  }
  if (outcome !== 'completed') return outcome;
  return closed ? 'disconnected' : opts.shutdown.aborted ? 'shutdown' : 'completed';
}
