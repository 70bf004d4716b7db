/**
 * Watched tasks: their events are kept in memory by one shared live consumer, so reading them
 * opens no consumer per reader; anything that takes the feed away hands readers to the stream.
 */
import { describe, expect, it } from 'vitest';
import type { SequencedTaskEvent } from '../../src/protocols/index.js';
import { connectTransport } from '../../src/transport/index.js';
import { eventsTestbed } from '../helpers/events-testbed.js';
import { collect, end, started, token } from '../helpers/task-events.js';
import { waitFor, waitForReconnect } from '../helpers/nats-server.js';

const bed = eventsTestbed('feeds-test');

/** Reads through a fresh transport, which never watched anything: the stream's view of the task. */
async function fromStream(task: string): Promise<SequencedTaskEvent[]> {
  const other = await connectTransport({ url: bed.server.url, name: 'feeds-test-reader', logger: bed.logs.logger });
  try {
    return await collect(other.events.read(task, {}));
  } finally {
    await other.close();
  }
}

describe('transport events - watched tasks', () => {
  it('serves a watched task from memory: the same events as the stream, with no consumer of its own', async () => {
    (await bed.transport.events.watch('w1')).admitted();
    expect(bed.transport.events.watching('w1')).toBe(true);
    const live = await bed.consumerCount(); // the shared live consumer
    expect(live).toBe(1);
    await bed.writeTask('w1', 4);
    const iter = bed.transport.events.read('w1', {})[Symbol.asyncIterator]();
    const seen = [(await iter.next()).value as SequencedTaskEvent];
    // Mid-read: a reader with a consumer of its own would show up here.
    expect(await bed.consumerCount()).toBe(live);
    for (let next = await iter.next(); next.done !== true; next = await iter.next()) seen.push(next.value);
    expect(seen).toEqual(await fromStream('w1'));
    expect(seen.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'token', 'token', 'end']);
  });

  it('resumes after a sequence from memory', async () => {
    (await bed.transport.events.watch('w2')).admitted();
    await bed.writeTask('w2', 3);
    const all = await collect(bed.transport.events.read('w2', {}));
    const cut = all[2]!.seq;
    expect(await collect(bed.transport.events.read('w2', { afterSeq: cut }))).toEqual(all.slice(3));
    expect(await collect(bed.transport.events.read('w2', { afterSeq: all.at(-1)!.seq }))).toEqual([]);
  });

  it('keeps only watched tasks: another task is read from the stream', async () => {
    await bed.writeTask('unwatched1', 2);
    expect(bed.transport.events.watching('unwatched1')).toBe(false);
    const events = await collect(bed.transport.events.read('unwatched1', {}));
    expect(events.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'end']);
    await waitFor(async () => (await bed.consumerCount()) === 1);
  });

  it('a release drops the feed; later reads use the stream', async () => {
    const watch = await bed.transport.events.watch('w3');
    watch.release();
    expect(bed.transport.events.watching('w3')).toBe(false);
    await bed.writeTask('w3', 1);
    expect((await collect(bed.transport.events.read('w3', {}))).map((e) => e.event.type)).toEqual(['started', 'token', 'end']);
  });

  it('a reader whose feed goes away (live consumer stopped) continues from the stream without gaps or repeats', async () => {
    (await bed.transport.events.watch('w4')).admitted();
    bed.transport.events.publish(started('w4'));
    bed.transport.events.publish(token('w4', 0));
    const iter = bed.transport.events.read('w4', {})[Symbol.asyncIterator]();
    const first = [(await iter.next()).value as SequencedTaskEvent, (await iter.next()).value as SequencedTaskEvent];
    (bed.transport.events as unknown as { stopLive(): void }).stopLive();
    await waitFor(() => !bed.transport.events.watching('w4'));
    bed.transport.events.publish(token('w4', 1));
    await bed.transport.events.publishDurable(end('w4', 2));
    const rest: SequencedTaskEvent[] = [];
    for (let next = await iter.next(); next.done !== true; next = await iter.next()) rest.push(next.value);
    expect([...first, ...rest]).toEqual(await fromStream('w4'));
    // The next watch starts a new live consumer.
    (await bed.transport.events.watch('w5')).admitted();
    expect(bed.transport.events.watching('w5')).toBe(true);
  });

  it('a feed is read only once its submit was admitted (a refused duplicate of a running task never is)', async () => {
    bed.transport.events.publish(started('dup1'));
    bed.transport.events.publish(token('dup1', 0));
    await bed.transport.bus.flush();
    // A second submit of the running task watches it; its events from now on are kept, not read.
    const watch = await bed.transport.events.watch('dup1');
    bed.transport.events.publish(token('dup1', 1));
    await bed.transport.events.publishDurable(end('dup1', 2));
    expect(bed.transport.events.watching('dup1')).toBe(false);
    const events = await collect(bed.transport.events.read('dup1', {}));
    expect(events.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'end']);
    watch.release();
  });

  it('a watched reader gets every event across a server restart', async () => {
    (await bed.transport.events.watch('w6')).admitted();
    bed.transport.events.publish(started('w6'));
    const reading = collect(bed.transport.events.read('w6', {}));
    await bed.server.restart();
    await waitForReconnect(() => bed.transport.bus.flush());
    await bed.transport.events.publishDurable(token('w6', 0));
    await bed.transport.events.publishDurable(end('w6', 1));
    const events = await reading;
    expect(events).toEqual(await fromStream('w6'));
    expect(events.at(-1)!.event.type).toBe('end');
  });
});
