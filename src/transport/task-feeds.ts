/**
 * In-memory event feeds of the tasks this process both submitted and runs. The relay of such a task
 * publishes through the same event log that serves its client, and every event it publishes is
 * appended here as well, so the client's stream is written in the turn the token came in, with no
 * round trip through nats-server and no consumer. A feed is complete from the task's first event
 * on, because it is opened before the submit that creates the task is sent. Readers see it only
 * once that submit was admitted (a refused duplicate of a running task must not be read from a
 * feed that began in the middle of its events) and claimed: placement in this process admitted it,
 * so every event of the task is published here. A task admitted by another process is read from
 * the stream.
 *
 * Memory is bounded: a feed lingers for a while after its terminal event (for the client whose
 * GET arrives after a fast task ended), and the oldest feeds are evicted beyond a count or total
 * event cap. A reader of an evicted (or detached) feed continues after its last position with the
 * fallback it was given, so eviction costs speed, never events.
 */
import { eventAfter, isTerminalEvent, positionOf, type TaskEvent } from '../protocols/index.js';

/** Limits of {@link TaskFeeds}. */
export interface TaskFeedLimits {
  /** How long a feed stays after its terminal event. */
  lingerMs: number;
  /** Most feeds kept; the oldest go first beyond it. */
  maxFeeds: number;
  /** Most events kept over all feeds; the oldest feeds go first beyond it. */
  maxEvents: number;
}

/** About 40–60 MB at the event cap; a reader past a limit only loses speed (it reads the stream). */
export const DEFAULT_FEED_LIMITS: TaskFeedLimits = { lingerMs: 10_000, maxFeeds: 20_000, maxEvents: 200_000 };

class Feed {
  readonly events: TaskEvent[] = [];
  /** The submit that opened it was admitted: the feed holds the task from its first event. */
  admitted = false;
  /** Placement in this process admitted the task: every one of its events is appended here. */
  claimed = false;
  endedAt: number | undefined;
  detached = false;
  private wakers = new Set<() => void>();

  append(event: TaskEvent, now: number): void {
    this.events.push(event);
    if (isTerminalEvent(event)) this.endedAt = now;
    this.wake();
  }

  detach(): void {
    this.detached = true;
    this.wake();
  }

  /** Resolves on the next append, detach or {@link wake}. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.wakers.add(resolve));
  }

  /** Wakes every reader waiting in {@link changed}. */
  wake(): void {
    const wakers = this.wakers;
    this.wakers = new Set();
    for (const w of wakers) w();
  }
}

/** Reads a task's events after a position from somewhere else (the stream); used when a feed goes away. */
export type FeedFallback = (afterPosition: number | undefined) => AsyncIterable<TaskEvent>;

/** The opener's hold on a feed: its submit was admitted (readers may use it), or refused (drop it). */
export interface FeedHandle {
  admitted(): void;
  release(): void;
}

/** The feeds of watched tasks, keyed by task id, oldest first. */
export class TaskFeeds {
  private readonly feeds = new Map<string, Feed>();
  private eventCount = 0;

  constructor(
    private readonly limits: TaskFeedLimits = DEFAULT_FEED_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts keeping `taskId`'s events; readers see them once the handle says the submit was admitted
   * and the task is claimed. Undefined when the task is already watched: the earlier watcher owns the feed.
   */
  open(taskId: string): FeedHandle | undefined {
    if (this.feeds.has(taskId)) return undefined;
    const feed = new Feed();
    this.feeds.set(taskId, feed);
    this.evictBeyondLimits();
    return {
      admitted: () => {
        feed.admitted = true;
        // Admitted by placement elsewhere: no event of it is published here, so nothing would
        // ever fill (or end) the feed.
        if (!feed.claimed && this.feeds.get(taskId) === feed) this.drop(taskId, feed);
      },
      release: () => {
        if (this.feeds.get(taskId) === feed) this.drop(taskId, feed);
      },
    };
  }

  /** Marks `taskId`'s feed, if one is kept, as filled by this process's publishes (before its submit is answered). */
  claim(taskId: string): void {
    const feed = this.feeds.get(taskId);
    if (feed !== undefined) feed.claimed = true;
  }

  /** True while `taskId` has a complete, readable feed here. */
  has(taskId: string): boolean {
    return readable(this.feeds.get(taskId));
  }

  /** Number of feeds kept. */
  get size(): number {
    return this.feeds.size;
  }

  /** Appends an event of a watched task; false (nothing kept) for a task nobody watches. */
  append(taskId: string, event: TaskEvent): boolean {
    const feed = this.feeds.get(taskId);
    if (feed === undefined) return false;
    feed.append(event, this.now());
    this.eventCount += 1;
    if (this.eventCount > this.limits.maxEvents) this.evictBeyondLimits();
    return true;
  }

  /** Drops feeds whose task ended more than `lingerMs` ago. */
  sweep(): void {
    const cutoff = this.now() - this.limits.lingerMs;
    for (const [taskId, feed] of this.feeds) {
      if (feed.endedAt !== undefined && feed.endedAt <= cutoff) this.drop(taskId, feed);
    }
  }

  /** Drops every feed (the log is closing): readers continue through their fallback. */
  detachAll(): void {
    for (const [taskId, feed] of this.feeds) this.drop(taskId, feed);
  }

  /**
   * Events of `taskId` after `afterPosition`, from the feed while it lasts, then from `fallback`;
   * ends after the terminal event or on abort. Undefined when the task has no readable feed.
   */
  read(taskId: string, afterPosition: number | undefined, signal: AbortSignal | undefined, fallback: FeedFallback): AsyncIterable<TaskEvent> | undefined {
    const feed = this.feeds.get(taskId);
    return feed !== undefined && readable(feed) ? readFeed(feed, afterPosition, signal, fallback) : undefined;
  }

  private drop(taskId: string, feed: Feed): void {
    this.feeds.delete(taskId);
    this.eventCount -= feed.events.length;
    feed.detach();
  }

  private evictBeyondLimits(): void {
    for (const [taskId, feed] of this.feeds) {
      if (this.feeds.size <= this.limits.maxFeeds && this.eventCount <= this.limits.maxEvents) return;
      this.drop(taskId, feed);
    }
  }
}

function readable(feed: Feed | undefined): boolean {
  return feed !== undefined && feed.admitted && feed.claimed;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

async function* readFeed(
  feed: Feed,
  afterPosition: number | undefined,
  signal: AbortSignal | undefined,
  fallback: FeedFallback,
): AsyncIterable<TaskEvent> {
  // Positions only grow, so the cursor filters only until the first event that passes it.
  let skipAfter = afterPosition;
  let next = 0;
  // One abort listener per reader (not per wait): an abort wakes the feed's waiters, which re-check.
  const onAbort = (): void => feed.wake();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (aborted(signal)) return;
      while (next < feed.events.length) {
        const stored = feed.events[next++]!;
        const event = skipAfter === undefined ? stored : eventAfter(stored, skipAfter);
        if (event === undefined) {
          // Resumed at or past the end: nothing more will come.
          if (isTerminalEvent(stored)) return;
          continue;
        }
        skipAfter = undefined;
        yield event;
        if (isTerminalEvent(event) || aborted(signal)) return;
      }
      if (feed.detached) {
        // Whatever the feed had is out; the rest comes from the stream, after the last one sent.
        yield* fallback(positionReached(feed.events, next, afterPosition));
        return;
      }
      await feed.changed();
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The position a reader has reached after the first `count` events of a feed (at least `afterPosition`). */
function positionReached(events: readonly TaskEvent[], count: number, afterPosition: number | undefined): number | undefined {
  for (let k = count - 1; k >= 0; k -= 1) {
    const at = positionOf(events[k]!);
    if (at !== undefined) return afterPosition === undefined ? at : Math.max(at, afterPosition);
  }
  return afterPosition;
}
