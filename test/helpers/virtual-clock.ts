/**
 * A virtual {@link Clock} for tests: time only moves when the test says so, and due timers run
 * synchronously, in due order (ties in scheduling order), so backoff and deadlines are tested
 * without sleeping.
 */
import type { Clock } from '../../src/actors/types.js';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

/** A Clock driven by `advance(ms)` / `runAll()`. */
export class VirtualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: Timer[] = [];

  /** Starts at `start` ms since the epoch (an arbitrary fixed date by default). */
  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  /** Current virtual time. */
  now(): number {
    return this.current;
  }

  /** Schedules `fn` at now + max(0, ms); returns a numeric handle. */
  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { id: this.nextId++, due: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  /** Cancels a pending timer; unknown handles are ignored. */
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Number of timers not yet run. */
  pending(): number {
    return this.timers.length;
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.earliest()?.due;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the way (including those
   * scheduled by the callbacks themselves), each at its own due time.
   */
  advance(ms: number): void {
    const target = this.current + Math.max(0, ms);
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.due > target) break;
      this.fire(next);
    }
    this.current = target;
  }

  /** Runs timers until none is left (at most `limit`, to catch self-rescheduling loops). */
  runAll(limit = 10_000): void {
    for (let i = 0; i < limit; i++) {
      const next = this.earliest();
      if (next === undefined) return;
      this.fire(next);
    }
    throw new Error(`VirtualClock.runAll: more than ${limit} timers`);
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }

  private fire(timer: Timer): void {
    this.timers = this.timers.filter((t) => t !== timer);
    this.current = Math.max(this.current, timer.due);
    timer.fn();
  }
}
