import { describe, expect, it } from 'vitest';
import { eventAfter, positionOf, type TaskEvent } from '../../../src/protocols/index.js';
import { TaskFeeds, type FeedFallback, type TaskFeedLimits } from '../../../src/transport/task-feeds.js';

const started = (task: string): TaskEvent => ({ type: 'started', task_id: task, data: { queue_position: 0, predicted_start_ms: 0 } });
const token = (task: string, i: number): TaskEvent => ({ type: 'token', task_id: task, data: { t: `t${i}`, i } });
const batch = (task: string, from: number, n: number): TaskEvent => ({
  type: 'token',
  task_id: task,
  data: { batch: Array.from({ length: n }, (_, k) => ({ t: `t${from + k}`, i: from + k })) },
});
const end = (task: string): TaskEvent => ({ type: 'end', task_id: task, data: { tokens_out: 1, decode_ms: 1, decode_time_ms: 1 } });

const LIMITS: TaskFeedLimits = { lingerMs: 1_000, maxFeeds: 100, maxEvents: 1_000 };

/** Opens a feed as a submit that placement here admitted would: watched, admitted, claimed. */
function openLocal(feeds: TaskFeeds, id: string): void {
  const handle = feeds.open(id)!;
  feeds.claim(id);
  handle.admitted();
}

/** A fallback that records where it was asked to start and yields the given events after it. */
function recordingFallback(stored: TaskEvent[]): { fallback: FeedFallback; calls: Array<number | undefined> } {
  const calls: Array<number | undefined> = [];
  const fallback: FeedFallback = async function* (afterPosition) {
    calls.push(afterPosition);
    for (const e of stored) {
      const rest = afterPosition === undefined ? e : eventAfter(e, afterPosition);
      if (rest !== undefined) yield rest;
    }
  };
  return { fallback, calls };
}

const unused: FeedFallback = () => {
  throw new Error('fallback must not be used');
};

async function collect(it: AsyncIterable<TaskEvent> | undefined): Promise<TaskEvent[]> {
  if (it === undefined) throw new Error('no feed');
  const out: TaskEvent[] = [];
  for await (const item of it) out.push(item);
  return out;
}

/** Resolves once `it` has yielded `n` items, leaving the rest to read. */
async function take(iter: AsyncIterator<TaskEvent>, n: number): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  while (out.length < n) {
    const next = await iter.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

const positions = (events: TaskEvent[]): Array<number | undefined> => events.map(positionOf);

describe('TaskFeeds', () => {
  it('has no feed for a task nobody watches, and keeps nothing of its events', async () => {
    const feeds = new TaskFeeds(LIMITS);
    expect(feeds.append('a', started('a'))).toBe(false);
    expect(feeds.has('a')).toBe(false);
    expect(feeds.read('a', undefined, undefined, unused)).toBeUndefined();
  });

  it('gives a reader the stored events, then live ones, and ends at the terminal event', async () => {
    const feeds = new TaskFeeds(LIMITS);
    openLocal(feeds, 'a');
    feeds.append('a', started('a'));
    feeds.append('a', token('a', 0));
    const iter = feeds.read('a', undefined, undefined, unused)![Symbol.asyncIterator]();
    expect(positions(await take(iter, 2))).toEqual([0, 1]);
    const pending = iter.next();
    feeds.append('a', token('a', 1));
    expect((await pending).value).toEqual(token('a', 1));
    feeds.append('a', end('a'));
    feeds.append('a', token('a', 2)); // nothing follows a terminal event
    expect(await take(iter, 5)).toEqual([end('a')]);
  });

  it('resumes after a position, cutting a batch it is inside, and serves several readers of one task', async () => {
    const feeds = new TaskFeeds(LIMITS);
    openLocal(feeds, 'a');
    [started('a'), batch('a', 0, 3), token('a', 3), end('a')].forEach((e) => feeds.append('a', e));
    expect(await collect(feeds.read('a', 2, undefined, unused))).toEqual([batch('a', 2, 1), token('a', 3), end('a')]);
    expect(positions(await collect(feeds.read('a', undefined, undefined, unused)))).toEqual([0, 3, 4, positionOf(end('a'))]);
    expect(await collect(feeds.read('a', positionOf(end('a')), undefined, unused))).toEqual([]);
  });

  it('stops a waiting reader on abort', async () => {
    const feeds = new TaskFeeds(LIMITS);
    openLocal(feeds, 'a');
    feeds.append('a', started('a'));
    const ac = new AbortController();
    const got: TaskEvent[] = [];
    for await (const item of feeds.read('a', undefined, ac.signal, unused)!) {
      got.push(item);
      if (got.length === 1) ac.abort();
    }
    expect(got).toEqual([started('a')]);
  });

  it('hands a reader of a dropped feed to the fallback, after the last position it sent', async () => {
    const feeds = new TaskFeeds(LIMITS);
    openLocal(feeds, 'a');
    feeds.append('a', started('a'));
    feeds.append('a', batch('a', 0, 2));
    const { fallback, calls } = recordingFallback([started('a'), batch('a', 0, 3), end('a')]);
    const iter = feeds.read('a', undefined, undefined, fallback)![Symbol.asyncIterator]();
    expect(positions(await take(iter, 2))).toEqual([0, 2]);
    feeds.detachAll();
    expect(feeds.has('a')).toBe(false);
    expect(await take(iter, 5)).toEqual([batch('a', 2, 1), end('a')]);
    expect(calls).toEqual([2]);
  });

  it('release drops only the feed it opened; a second open of a watched task gets no handle', () => {
    const feeds = new TaskFeeds(LIMITS);
    const first = feeds.open('a');
    expect(first).toBeDefined();
    expect(feeds.open('a')).toBeUndefined();
    first!.release();
    expect(feeds.size).toBe(0);
    const again = feeds.open('a');
    feeds.claim('a');
    again!.admitted();
    first!.release(); // a stale release must not drop the new feed
    expect(feeds.has('a')).toBe(true);
    again!.release();
    expect(feeds.has('a')).toBe(false);
  });

  it('keeps events from the open on, but lets readers in only once the submit was admitted', async () => {
    const feeds = new TaskFeeds(LIMITS);
    const handle = feeds.open('a')!;
    feeds.claim('a');
    expect(feeds.append('a', started('a'))).toBe(true);
    expect(feeds.has('a')).toBe(false);
    expect(feeds.read('a', undefined, undefined, unused)).toBeUndefined();
    handle.admitted();
    feeds.append('a', end('a'));
    expect(await collect(feeds.read('a', undefined, undefined, unused))).toEqual([started('a'), end('a')]);
  });

  it('drops the feed of a task admitted without a claim: placement in another process runs it', () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.open('a')!.admitted();
    expect(feeds.size).toBe(0);
    expect(feeds.has('a')).toBe(false);
    expect(feeds.read('a', undefined, undefined, unused)).toBeUndefined();
    feeds.claim('a'); // too late: nothing is kept
    expect(feeds.append('a', started('a'))).toBe(false);
  });

  it('a claim of a task nobody watches keeps nothing', () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.claim('a');
    expect(feeds.size).toBe(0);
    expect(feeds.append('a', started('a'))).toBe(false);
  });

  it('keeps an ended feed for the linger time, an unended one until it ends', () => {
    let now = 0;
    const feeds = new TaskFeeds(LIMITS, () => now);
    openLocal(feeds, 'done');
    openLocal(feeds, 'running');
    feeds.append('done', end('done'));
    feeds.append('running', started('running'));
    now = LIMITS.lingerMs - 1;
    feeds.sweep();
    expect(feeds.has('done')).toBe(true);
    now = LIMITS.lingerMs;
    feeds.sweep();
    expect(feeds.has('done')).toBe(false);
    now = 100 * LIMITS.lingerMs;
    feeds.sweep();
    expect(feeds.has('running')).toBe(true);
  });

  it('evicts the oldest feeds beyond the feed and event caps', () => {
    const feeds = new TaskFeeds({ lingerMs: 1_000, maxFeeds: 3, maxEvents: 5 });
    for (const id of ['a', 'b', 'c', 'd']) openLocal(feeds, id);
    expect(['a', 'b', 'c', 'd'].filter((id) => feeds.has(id))).toEqual(['b', 'c', 'd']);
    for (let i = 0; i < 3; i++) feeds.append('b', token('b', i));
    for (let i = 0; i < 3; i++) feeds.append('c', token('c', i));
    // 6 events > 5: the oldest feed (b, 3 events) goes.
    expect(['b', 'c', 'd'].filter((id) => feeds.has(id))).toEqual(['c', 'd']);
    expect(feeds.size).toBe(2);
  });
});
