/**
 * Admission: bounded priority queues (interactive before batch) and the pure decisions around
 * them (DESIGN §7, llama-orch OC-CORE-1001…1005 in seed-projects §A7).
 *
 * The queue itself is a small mutable data structure (it is data, not I/O): the PlacementActor
 * owns one instance and must be able to admit thousands of tasks per second with thousands queued,
 * so every operation the hot path needs is O(1). Every *decision* (admit, evict, reject, predicted
 * start, backoff) is a pure function of plain values; the actor applies it.
 */
import type { AdmissionPolicyName, Priority } from '../protocols/index.js';

/** One queued task: what admission and dispatch need to know, nothing more. */
export interface QueueEntry {
  task_id: string;
  priority: Priority;
  model: string;
  /** Clock time (ms) the task was admitted. */
  enqueued_at: number;
  /** Clock time (ms) after which the task can no longer start; see {@link PriorityQueues.expire}. */
  deadline_at: number;
}

/** A node of one priority's doubly linked FIFO; the Map index makes remove-by-id O(1). */
interface Link {
  entry: QueueEntry;
  prev: Link | undefined;
  next: Link | undefined;
}

/** One priority's FIFO. */
interface Lane {
  head: Link | undefined;
  tail: Link | undefined;
  size: number;
}

/** Priorities in dispatch order: all interactive work goes before any batch work. */
const DISPATCH_ORDER: readonly Priority[] = ['interactive', 'batch'];

/**
 * Two FIFOs (interactive, batch) indexed by task id.
 *
 * Every operation on the admission hot path is O(1): enqueue, requeueFront, remove, peekOldest,
 * has. `position` is O(position) and `inDispatchOrder` is a walk. `expire` is O(1) when nothing
 * can have expired yet (it keeps a lower bound on the earliest deadline) and O(n) otherwise.
 *
 * The queue does not know its capacity: capacity is enforced by {@link decideAdmission}, so that
 * a retry put back with `requeueFront` can exceed it on purpose.
 *
 * Do not mutate the queue while iterating {@link inDispatchOrder}; collect first, then act.
 */
export class PriorityQueues {
  private readonly lanes: Record<Priority, Lane> = {
    interactive: { head: undefined, tail: undefined, size: 0 },
    batch: { head: undefined, tail: undefined, size: 0 },
  };
  private readonly index = new Map<string, Link>();
  /**
   * A lower bound on the earliest deadline_at in the queue. Adding an entry can only lower the
   * true minimum (we lower the bound with it); removing one can only raise it (the bound stays
   * valid). So `now < minDeadlineBound` proves nothing has expired without scanning.
   */
  private minDeadlineBound = Number.POSITIVE_INFINITY;

  /** Number of queued entries, both priorities. */
  get size(): number {
    return this.index.size;
  }

  /** Number of queued entries of one priority. */
  sizeOf(priority: Priority): number {
    return this.lanes[priority].size;
  }

  /** Appends to the back of its priority's FIFO. A duplicate task id is a defect and throws. */
  enqueue(entry: QueueEntry): void {
    const link = this.link(entry);
    const lane = this.lanes[entry.priority];
    link.prev = lane.tail;
    if (lane.tail === undefined) lane.head = link;
    else lane.tail.next = link;
    lane.tail = link;
    lane.size += 1;
  }

  /**
   * Puts a task back at the *front* of its priority, for a task retried before its first token:
   * it already waited its turn once. May exceed the admission capacity by design (the task was
   * already admitted; refusing it now would lose accepted work). A duplicate id throws.
   */
  requeueFront(entry: QueueEntry): void {
    const link = this.link(entry);
    const lane = this.lanes[entry.priority];
    link.next = lane.head;
    if (lane.head === undefined) lane.tail = link;
    else lane.head.prev = link;
    lane.head = link;
    lane.size += 1;
  }

  /** Removes a queued task (cancel, dispatch, eviction); returns it, or undefined if absent. O(1). */
  remove(taskId: string): QueueEntry | undefined {
    const link = this.index.get(taskId);
    if (link === undefined) return undefined;
    this.unlink(link);
    return link.entry;
  }

  /** The entry at the front of one priority (next to dispatch, first to evict), if any. */
  peekOldest(priority: Priority): QueueEntry | undefined {
    return this.lanes[priority].head?.entry;
  }

  /** Whether a task is queued. */
  has(taskId: string): boolean {
    return this.index.has(taskId);
  }

  /**
   * 0-based position in dispatch order (all interactive FIFO, then batch FIFO), or undefined if
   * the task is not queued. O(position): walks back from the entry to the head of its lane.
   */
  position(taskId: string): number | undefined {
    const link = this.index.get(taskId);
    if (link === undefined) return undefined;
    let pos = link.entry.priority === 'batch' ? this.lanes.interactive.size : 0;
    for (let l = link.prev; l !== undefined; l = l.prev) pos += 1;
    return pos;
  }

  /** Every queued entry in dispatch order: interactive FIFO, then batch FIFO. */
  *inDispatchOrder(): Iterable<QueueEntry> {
    for (const p of DISPATCH_ORDER) {
      for (let l = this.lanes[p].head; l !== undefined; l = l.next) yield l.entry;
    }
  }

  /**
   * Removes and returns (in dispatch order) every entry whose deadline has passed
   * (`deadline_at <= now`): such a task can no longer start in time and must end with
   * DEADLINE_UNMET rather than occupy a queue slot.
   */
  expire(now: number): QueueEntry[] {
    if (now < this.minDeadlineBound) return [];
    const expired: QueueEntry[] = [];
    let min = Number.POSITIVE_INFINITY;
    for (const p of DISPATCH_ORDER) {
      let l = this.lanes[p].head;
      while (l !== undefined) {
        const next = l.next;
        if (l.entry.deadline_at <= now) {
          this.unlink(l);
          expired.push(l.entry);
        } else if (l.entry.deadline_at < min) {
          min = l.entry.deadline_at;
        }
        l = next;
      }
    }
    // After a full scan the bound is exact again.
    this.minDeadlineBound = min;
    return expired;
  }

  private link(entry: QueueEntry): Link {
    if (this.index.has(entry.task_id)) {
      throw new Error(`PriorityQueues: task ${entry.task_id} is already queued`);
    }
    const link: Link = { entry, prev: undefined, next: undefined };
    this.index.set(entry.task_id, link);
    if (entry.deadline_at < this.minDeadlineBound) this.minDeadlineBound = entry.deadline_at;
    return link;
  }

  private unlink(link: Link): void {
    const lane = this.lanes[link.entry.priority];
    if (link.prev === undefined) lane.head = link.next;
    else link.prev.next = link.next;
    if (link.next === undefined) lane.tail = link.prev;
    else link.next.prev = link.prev;
    link.prev = undefined;
    link.next = undefined;
    lane.size -= 1;
    this.index.delete(link.entry.task_id);
  }
}

/** What {@link decideAdmission} needs to see of the queue (see {@link admissionView}). */
export interface AdmissionView {
  size: number;
  batchSize: number;
  oldestBatch?: QueueEntry;
  oldestInteractive?: QueueEntry;
}

/** Admission configuration (drover.yaml `admission`). */
export interface AdmissionConfig {
  capacity: number;
  policy: AdmissionPolicyName;
}

/** What to do with an incoming task. */
export type AdmissionDecision =
  | { kind: 'admit' }
  | { kind: 'evict-then-admit'; victim: QueueEntry }
  | { kind: 'reject'; code: 'ADMISSION_REJECT' | 'QUEUE_FULL_DROP_LRU' };

/** The part of a queue {@link decideAdmission} reads. */
export function admissionView(queues: PriorityQueues): AdmissionView {
  const view: AdmissionView = { size: queues.size, batchSize: queues.sizeOf('batch') };
  const oldestBatch = queues.peekOldest('batch');
  const oldestInteractive = queues.peekOldest('interactive');
  if (oldestBatch !== undefined) view.oldestBatch = oldestBatch;
  if (oldestInteractive !== undefined) view.oldestInteractive = oldestInteractive;
  return view;
}

/**
 * Decides whether an incoming task enters the queue (pure).
 *
 * - Below capacity: admit.
 * - Full, policy `reject`: reject with ADMISSION_REJECT (429).
 * - Full, policy `drop-lru`: evict the oldest batch entry if any batch work is queued (newer
 *   work displaces the least recently admitted batch task); with only interactive work queued, an
 *   incoming interactive task evicts the oldest interactive entry, and an incoming batch task is
 *   rejected with QUEUE_FULL_DROP_LRU — batch work never displaces interactive work.
 *
 * Invariant: drop-lru never evicts interactive work while batch work is queued.
 */
export function decideAdmission(
  view: AdmissionView,
  incoming: { priority: Priority },
  cfg: AdmissionConfig,
): AdmissionDecision {
  if (view.size < cfg.capacity) return { kind: 'admit' };
  if (cfg.policy === 'reject') return { kind: 'reject', code: 'ADMISSION_REJECT' };
  if (view.batchSize > 0 && view.oldestBatch !== undefined) {
    return { kind: 'evict-then-admit', victim: view.oldestBatch };
  }
  if (incoming.priority === 'interactive' && view.batchSize === 0 && view.oldestInteractive !== undefined) {
    return { kind: 'evict-then-admit', victim: view.oldestInteractive };
  }
  return { kind: 'reject', code: 'QUEUE_FULL_DROP_LRU' };
}

/**
 * Applies an admission decision to the queue: enqueues the entry (after removing the victim, if
 * any). Returns the evicted entry so the caller can end that task with QUEUE_FULL_DROP_LRU.
 * A reject leaves the queue untouched.
 */
export function applyAdmission(
  queues: PriorityQueues,
  decision: AdmissionDecision,
  entry: QueueEntry,
): QueueEntry | undefined {
  switch (decision.kind) {
    case 'admit':
      queues.enqueue(entry);
      return undefined;
    case 'evict-then-admit': {
      const victim = queues.remove(decision.victim.task_id);
      queues.enqueue(entry);
      return victim;
    }
    case 'reject':
      return undefined;
  }
}

/**
 * Predicted wait (ms) before the task at `position` (0-based, dispatch order) starts.
 *
 * Formula: `floor(position / slots) * serviceMsEwma` with `slots = max(1, slotsTotal)`, i.e.
 * `(ceil((position + 1) / slots) - 1) * serviceMsEwma`. The queue drains in "waves" of `slots`
 * tasks, each lasting about one mean service time; the task starts when the waves ahead of it
 * have finished. So a position below the slot count predicts ~0 (it goes out with the first
 * wave). It deliberately ignores how far the running tasks already are: a coarse, monotone ETA
 * that is cheap enough to send with every 202.
 */
export function predictStartMs(position: number, serviceMsEwma: number, slotsTotal: number): number {
  const pos = Number.isFinite(position) && position > 0 ? Math.floor(position) : 0;
  const service = Number.isFinite(serviceMsEwma) && serviceMsEwma > 0 ? serviceMsEwma : 0;
  const slots = Number.isFinite(slotsTotal) && slotsTotal >= 1 ? Math.floor(slotsTotal) : 1;
  return Math.ceil(Math.floor(pos / slots) * service);
}

/** Lower bound of {@link backoffMs}: retrying sooner only adds load to a full queue. */
export const MIN_BACKOFF_MS = 100;
/** Upper bound of {@link backoffMs}: past this a client would rather be told to come back later. */
export const MAX_BACKOFF_MS = 30_000;
/** Service time used when the caller's estimate is not a finite, non-negative number. */
const FALLBACK_SERVICE_MS = 1_000;

/**
 * How long (ms) a client refused with 429 should wait before retrying (`Retry-After`,
 * `X-Backoff-Ms`, `retry_after_ms`): about the time until a queue place is free *for it*.
 *
 * Formula: `clamp(ceil(max(1, queued) * serviceMsEwma / max(1, slotsTotal)), 100, 30_000)`.
 * The queue drains at about `slotsTotal / serviceMsEwma` tasks per ms. A refused client stands,
 * in effect, behind the `queued` tasks already admitted, so it is told to come back roughly when
 * it would have started had it been admitted — the same rate as {@link predictStartMs}, without
 * the wave rounding. Answering "when does the *first* place open" instead would send every
 * refused client back at the same instant (a retry herd against a queue that frees one place at
 * a time). Zero ready slots count as one (a pool that is warming up will have at least one).
 */
export function backoffMs(queued: number, serviceMsEwma: number, slotsTotal: number): number {
  const ahead = Number.isFinite(queued) && queued > 1 ? queued : 1;
  const service = Number.isFinite(serviceMsEwma) && serviceMsEwma >= 0 ? serviceMsEwma : FALLBACK_SERVICE_MS;
  const slots = Number.isFinite(slotsTotal) && slotsTotal >= 1 ? slotsTotal : 1;
  const ms = Math.ceil((ahead * service) / slots);
  return Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, ms));
}

/**
 * Exponentially weighted moving average: `prev + alpha * (sample - prev)`; the first sample is
 * taken as is. alpha 0.2 weighs roughly the last ten samples, so the service-time estimate follows
 * a change of model or load within seconds yet one slow request does not swing the ETA. Negative
 * samples (clock skew) count as 0; a non-finite sample is ignored (returns `prev ?? 0`); alpha is
 * clamped to [0, 1] (a non-finite alpha means the default 0.2).
 */
export function updateEwma(prev: number | undefined, sample: number, alpha = 0.2): number {
  if (!Number.isFinite(sample)) return prev ?? 0;
  const s = sample < 0 ? 0 : sample;
  if (prev === undefined || !Number.isFinite(prev)) return s;
  const a = !Number.isFinite(alpha) ? 0.2 : alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
  return prev + a * (s - prev);
}
