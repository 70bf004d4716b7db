/**
 * The engine's sequence slots: at most `maxRunning` sequences run at once, the rest wait in FIFO
 * order — what vLLM reports as `num_requests_running` / `num_requests_waiting`.
 */

/** Something that waits for a slot. */
export interface SlotWaiter {
  /** Called once, when the waiter gets its slot; it must call `release()` when done. */
  onSlotGranted(): void;
}

/** FIFO admission to a fixed number of running sequences. */
export class SequenceScheduler {
  private runningCount = 0;
  /** A Set keeps insertion order and removes a cancelled waiter in O(1). */
  private readonly queue = new Set<SlotWaiter>();

  constructor(private readonly maxRunning: number) {
    if (!Number.isInteger(maxRunning) || maxRunning < 1) throw new RangeError(`maxNumSeqs must be a positive integer, got ${maxRunning}`);
  }

  /** Sequences holding a slot. */
  get running(): number {
    return this.runningCount;
  }

  /** Requests queued for a slot. */
  get waiting(): number {
    return this.queue.size;
  }

  /** Runs `waiter` now if a slot is free, otherwise queues it. */
  submit(waiter: SlotWaiter): void {
    if (this.runningCount < this.maxRunning) {
      this.runningCount++;
      waiter.onSlotGranted();
    } else {
      this.queue.add(waiter);
    }
  }

  /** Removes a queued waiter (its client went away); false when it was not queued. */
  withdraw(waiter: SlotWaiter): boolean {
    return this.queue.delete(waiter);
  }

  /** Frees one slot and hands it to the oldest waiter. */
  release(): void {
    if (this.runningCount === 0) throw new Error('SequenceScheduler.release() without a running sequence');
    this.runningCount--;
    const next = this.queue.values().next();
    if (next.done === true) return;
    this.queue.delete(next.value);
    this.runningCount++;
    next.value.onSlotGranted();
  }
}
