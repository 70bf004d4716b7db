import { describe, expect, it } from 'vitest';
import type { SequencedTaskEvent, TaskEvent } from '../../../src/protocols/index.js';
import { TaskFeeds, type FeedFallback, type TaskFeedLimits } from '../../../src/transport/task-feeds.js';

const started = (task: string): TaskEvent => ({ type: 'started', task_id: task, data: { queue_position: 0, predicted_start_ms: 0 } });
const token = (task: string, i: number): TaskEvent => ({ type: 'token', task_id: task, data: { t: `t${i}`, i } });
const end = (task: string): TaskEvent => ({ type: 'end', task_id: task, data: { tokens_out: 1, decode_ms: 1, decode_time_ms: 1 } });

const LIMITS: TaskFeedLimits = { lingerMs: 1_000, maxFeeds: 100, maxEvents: 1_000 };

/** A fallback that records where it was asked to start and yields the given events after it. */
function recordingFallback(stored: SequencedTaskEvent[]): { fallback: FeedFallback; calls: Array<number | undefined> } {
  const calls: Array<number | undefined> = [];
  const fallback: FeedFallback = async function* (afterSeq) {
    calls.push(afterSeq);
    for (const item of stored) if (afterSeq === undefined || item.seq > afterSeq) yield item;
  };
  return { fallback, calls };
}

const unused: FeedFallback = () => {
  throw new Error('fallback must not be used');
};

async function collect(it: AsyncIterable<SequencedTaskEvent> | undefined): Promise<SequencedTaskEvent[]> {
  if (it === undefined) throw new Error('no feed');
  const out: SequencedTaskEvent[] = [];
  for await (const item of it) out.push(item);
  return out;
}

/** Resolves once `it` has yielded `n` items, leaving the rest to read. */
async function take(iter: AsyncIterator<SequencedTaskEvent>, n: number): Promise<SequencedTaskEvent[]> {
  const out: SequencedTaskEvent[] = [];
  while (out.length < n) {
    const next = await iter.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

describe('TaskFeeds', () => {
  it('has no feed for a task nobody watches, and keeps nothing of its events', async () => {
    const feeds = new TaskFeeds(LIMITS);
    expect(feeds.append('a', { seq: 1, event: started('a') })).toBe(false);
    expect(feeds.has('a')).toBe(false);
    expect(feeds.read('a', undefined, undefined, unused)).toBeUndefined();
  });

  it('gives a reader the stored events, then live ones, and ends at the terminal event', async () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.open('a')!.admitted();
    feeds.append('a', { seq: 3, event: started('a') });
    feeds.append('a', { seq: 5, event: token('a', 0) });
    const iter = feeds.read('a', undefined, undefined, unused)![Symbol.asyncIterator]();
    expect((await take(iter, 2)).map((e) => e.seq)).toEqual([3, 5]);
    const pending = iter.next();
    feeds.append('a', { seq: 9, event: token('a', 1) });
    expect((await pending).value).toEqual({ seq: 9, event: token('a', 1) });
    feeds.append('a', { seq: 10, event: end('a') });
    feeds.append('a', { seq: 11, event: token('a', 2) }); // nothing follows a terminal event
    expect((await take(iter, 5)).map((e) => e.seq)).toEqual([10]);
  });

  it('resumes after a sequence, and serves several readers of one task', async () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.open('a')!.admitted();
    [started('a'), token('a', 0), token('a', 1), end('a')].forEach((event, k) => feeds.append('a', { seq: 10 + k, event }));
    expect((await collect(feeds.read('a', 11, undefined, unused))).map((e) => e.seq)).toEqual([12, 13]);
    expect((await collect(feeds.read('a', undefined, undefined, unused))).map((e) => e.seq)).toEqual([10, 11, 12, 13]);
    expect(await collect(feeds.read('a', 13, undefined, unused))).toEqual([]);
  });

  it('stops a waiting reader on abort', async () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.open('a')!.admitted();
    feeds.append('a', { seq: 1, event: started('a') });
    const ac = new AbortController();
    const got: number[] = [];
    const reading = (async () => {
      for await (const item of feeds.read('a', undefined, ac.signal, unused)!) {
        got.push(item.seq);
        if (got.length === 1) ac.abort();
      }
    })();
    await reading;
    expect(got).toEqual([1]);
  });

  it('hands a reader of a dropped feed to the fallback, after the last event it sent', async () => {
    const feeds = new TaskFeeds(LIMITS);
    feeds.open('a')!.admitted();
    feeds.append('a', { seq: 1, event: started('a') });
    feeds.append('a', { seq: 2, event: token('a', 0) });
    const stored = [1, 2, 3].map((seq) => ({ seq, event: seq === 1 ? started('a') : seq === 2 ? token('a', 0) : end('a') }));
    const { fallback, calls } = recordingFallback(stored);
    const iter = feeds.read('a', undefined, undefined, fallback)![Symbol.asyncIterator]();
    expect((await take(iter, 2)).map((e) => e.seq)).toEqual([1, 2]);
    feeds.detachAll();
    expect(feeds.has('a')).toBe(false);
    expect((await take(iter, 5)).map((e) => e.seq)).toEqual([3]);
    expect(calls).toEqual([2]);
  });

  it('release drops only the feed it opened; a second open of a watched task gets no handle', () => {
    const feeds = new TaskFeeds(LIMITS);
    const first = feeds.open('a');
    expect(first).toBeDefined();
    expect(feeds.open('a')).toBeUndefined();
    first!.release();
    expect(feeds.keeps('a')).toBe(false);
    const again = feeds.open('a');
    again!.admitted();
    first!.release(); // a stale release must not drop the new feed
    expect(feeds.has('a')).toBe(true);
    again!.release();
    expect(feeds.has('a')).toBe(false);
  });

  it('keeps events from the open on, but lets readers in only once the submit was admitted', async () => {
    const feeds = new TaskFeeds(LIMITS);
    const handle = feeds.open('a')!;
    expect(feeds.append('a', { seq: 4, event: token('a', 3) })).toBe(true);
    expect(feeds.keeps('a')).toBe(true);
    expect(feeds.has('a')).toBe(false);
    expect(feeds.read('a', undefined, undefined, unused)).toBeUndefined();
    handle.admitted();
    feeds.append('a', { seq: 5, event: end('a') });
    expect((await collect(feeds.read('a', undefined, undefined, unused))).map((e) => e.seq)).toEqual([4, 5]);
  });

  it('keeps an ended feed for the linger time, an unended one until it ends', () => {
    let now = 0;
    const feeds = new TaskFeeds(LIMITS, () => now);
    feeds.open('done')!.admitted();
    feeds.open('running')!.admitted();
    feeds.append('done', { seq: 1, event: end('done') });
    feeds.append('running', { seq: 2, event: started('running') });
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
    for (const id of ['a', 'b', 'c', 'd']) feeds.open(id)!.admitted();
    expect(['a', 'b', 'c', 'd'].filter((id) => feeds.has(id))).toEqual(['b', 'c', 'd']);
    for (let seq = 1; seq <= 3; seq++) feeds.append('b', { seq, event: token('b', seq) });
    for (let seq = 4; seq <= 6; seq++) feeds.append('c', { seq, event: token('c', seq) });
    // 6 events > 5: the oldest feed (b, 3 events) goes.
    expect(['b', 'c', 'd'].filter((id) => feeds.has(id))).toEqual(['c', 'd']);
    expect(feeds.size).toBe(2);
  });
});
