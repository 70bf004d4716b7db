/**
 * One HTTP response read straight off an undici dispatcher, as the relay needs it: the status, the
 * body's bytes in order, a way to stop, and backpressure.
 *
 * undici's `request()` wraps each response in a Readable, an async iterator over it and an
 * AbortSignal. For a short streamed completion against a local server that machinery took about
 * 25 of the 40 µs of client CPU per request (micro-benchmark: `request()` + `for await` 41-43 µs,
 * `dispatch()` with a handler 17-19 µs), a visible share of a relayed task.
 */
import type { Dispatcher } from 'undici';

/** Body bytes held for a slow reader before the socket is paused; reading below half resumes it. */
const HIGH_WATER_BYTES = 64 * 1024;

/** A dispatch handler that queues the response for one reader; see the module comment. */
export class ResponseStream implements Dispatcher.DispatchHandler {
  /** The response's status; 0 until it started. */
  statusCode = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  private started = false;
  private ended = false;
  private failure: Error | undefined;
  private waiter: (() => void) | undefined;

  /** True once the whole body arrived (a later `abort` does nothing). */
  get complete(): boolean {
    return this.ended;
  }

  /** Resolves once the status and headers arrived; rejects with the request's failure if it came first. */
  async responseStarted(): Promise<void> {
    while (!this.started) {
      if (this.failure !== undefined) throw this.failure;
      await this.wait();
    }
  }

  /** True when a {@link read} would return data without waiting for the engine. */
  get buffered(): boolean {
    return this.chunks.length > 0;
  }

  /**
   * The next piece of the body, in order; undefined once it ended. Pieces that arrived before a
   * failure are handed out first, then the failure is thrown.
   */
  async read(): Promise<Buffer | undefined> {
    while (this.chunks.length === 0) {
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return undefined;
      await this.wait();
    }
    const chunk = this.chunks.shift()!;
    this.queuedBytes -= chunk.length;
    if (this.controller?.paused === true && this.queuedBytes < HIGH_WATER_BYTES / 2) this.controller.resume();
    return chunk;
  }

  /** Stops the request (its connection is dropped); a waiting or later read throws `reason`. */
  abort(reason: Error): void {
    if (this.ended || this.failure !== undefined) return;
    if (this.controller !== undefined) return this.controller.abort(reason);
    // Not on a connection yet: undici aborts it as soon as it is, and the reader stops now.
    this.abortReason = reason;
    this.failure = reason;
    this.wake();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.statusCode = statusCode;
    this.started = true;
    this.wake();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes >= HIGH_WATER_BYTES) controller.pause();
    this.wake();
  }

  onResponseEnd(): void {
    this.ended = true;
    this.wake();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
