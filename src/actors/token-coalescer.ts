/**
 * Coalesces the tokens that reach relays within one event-loop turn: each relay's tokens become
 * one `token` event, and every relay's event goes out in one synchronous run.
 *
 * An engine that outruns the bus hands a relay many tokens per socket read, and a busy process
 * reads many streams per turn. Published one by one, each token costs a NATS socket write (nats.js
 * flushes once per microtask checkpoint), a stream write and a consumer delivery. Here the first
 * token of a turn schedules one shared `setImmediate`, which runs right after the I/O that
 * delivered it: a relay's tokens that arrived together leave as one batch, and the batches of all
 * relays are published back to back, so nats.js writes them to its socket at once. A lone token
 * (an engine at reading speed on an idle process) waits for nothing but the end of the turn; the
 * relay flushes an attempt's first burst itself as soon as the engine has nothing more buffered,
 * because on a busy process the end of the turn is time to first token.
 */
import { MAX_TOKEN_BATCH, type Token } from '../protocols/index.js';

/** Runs the flushes scheduled during a turn, all in one `setImmediate` callback. */
export class TurnFlusher {
  private readonly due = new Set<() => void>();
  private scheduled = false;

  schedule(flush: () => void): void {
    this.due.add(flush);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.runDue());
  }

  unschedule(flush: () => void): void {
    this.due.delete(flush);
  }

  private runDue(): void {
    this.scheduled = false;
    const due = [...this.due];
    this.due.clear();
    for (const flush of due) flush();
  }
}

/** The flusher every relay of this process shares. */
export const sharedTurnFlusher = new TurnFlusher();

export class TokenCoalescer {
  private pending: Token[] = [];
  private readonly scheduledFlush = (): void => this.flush();

  /** `emit` receives every non-empty batch, in order, at most `max` tokens each. */
  constructor(
    private readonly emit: (tokens: Token[]) => void,
    private readonly flusher: TurnFlusher = sharedTurnFlusher,
    private readonly max: number = MAX_TOKEN_BATCH,
  ) {}

  push(token: Token): void {
    this.pending.push(token);
    if (this.pending.length >= this.max) this.flush();
    else if (this.pending.length === 1) this.flusher.schedule(this.scheduledFlush);
  }

  /** Emits what is pending now (before a terminal event, so tokens precede it). */
  flush(): void {
    this.flusher.unschedule(this.scheduledFlush);
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.emit(batch);
  }

  /** Drops what is pending (cancel: no token may follow it). */
  discard(): void {
    this.flusher.unschedule(this.scheduledFlush);
    this.pending = [];
  }
}
