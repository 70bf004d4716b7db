/**
 * Tasks this process submitted and runs: every event published through the log is also kept in
 * memory, so reading them opens no consumer and never waits on nats-server; a task admitted by
 * another process, or a feed taken away, is read from the stream.
 */
import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '../../src/protocols/index.js';
import { connect } from 'nats';
import { connectTransport } from '../../src/transport/index.js';
import { JetStreamEventLog } from '../../src/transport/events.js';
import { AckedPublisher, type StoredPublish } from '../../src/transport/acked-publish.js';
import { ReplyInbox } from '../../src/transport/reply-inbox.js';
import { eventsTestbed } from '../helpers/events-testbed.js';
import { collect, end, started, token } from '../helpers/task-events.js';
import { waitForReconnect } from '../helpers/nats-server.js';

const bed = eventsTestbed('feeds-test');

/** Reads through a fresh transport, which never watched anything: the stream's view of the task. */
async function fromStream(task: string): Promise<TaskEvent[]> {
  const other = await connectTransport({ url: bed.server.url, name: 'feeds-test-reader', logger: bed.logs.logger });
  try {
    return await collect(other.events.read(task, {}));
  } finally {
    await other.close();
  }
}

/** A submit from this process that placement here admitted. */
function watchLocal(task: string): void {
  const watch = bed.transport.events.watch(task);
  bed.transport.events.claim(task); // placement claims it before it answers the submit
  watch.admitted();
}

describe('transport events - tasks run here', () => {
  it('serves a task run here from memory: the same events as the stream, with no consumer at all', async () => {
    watchLocal('w1');
    expect(bed.transport.events.watching('w1')).toBe(true);
    bed.transport.events.publish(started('w1'));
    const iter = bed.transport.events.read('w1', {})[Symbol.asyncIterator]();
    // Served the moment it is published: nothing went through nats-server yet.
    expect((await iter.next()).value).toEqual(started('w1'));
    for (let i = 0; i < 4; i++) bed.transport.events.publish(token('w1', i));
    await bed.transport.events.publishDurable(end('w1', 4));
    const seen = [started('w1')];
    for (let next = await iter.next(); next.done !== true; next = await iter.next()) seen.push(next.value);
    expect(await bed.consumerCount()).toBe(0);
    expect(seen).toEqual(await fromStream('w1'));
    expect(seen.map((e) => e.type)).toEqual(['started', 'token', 'token', 'token', 'token', 'end']);
  });

  it('resumes after a position from memory', async () => {
    watchLocal('w2');
    await bed.writeTask('w2', 3);
    const all = await collect(bed.transport.events.read('w2', {}));
    expect(await collect(bed.transport.events.read('w2', { afterPosition: 2 }))).toEqual(all.slice(3));
    expect(await bed.consumerCount()).toBe(0);
  });

  it('a task admitted by another process (not claimed here) is read from the stream', async () => {
    bed.transport.events.watch('remote1').admitted();
    // Dropped at once: no event of it would ever reach memory here.
    expect(bed.transport.events.watching('remote1')).toBe(false);
    // Its events come from elsewhere: a raw connection stands in for the other process.
    const reader = collect(bed.transport.events.read('remote1', {}));
    const other = await connectTransport({ url: bed.server.url, name: 'feeds-test-other', logger: bed.logs.logger });
    try {
      await other.events.publishDurable(started('remote1'));
      await other.events.publishDurable(end('remote1', 0));
    } finally {
      await other.close();
    }
    expect(await reader).toEqual([started('remote1'), end('remote1', 0)]);
  });

  it('a release drops the feed; later reads use the stream', async () => {
    const watch = bed.transport.events.watch('w3');
    bed.transport.events.claim('w3');
    watch.release();
    expect(bed.transport.events.watching('w3')).toBe(false);
    await bed.writeTask('w3', 1);
    expect((await collect(bed.transport.events.read('w3', {}))).map((e) => e.type)).toEqual(['started', 'token', 'end']);
  });

  it('a reader whose feed goes away (the log closes) continues from the stream without gaps or repeats', async () => {
    const t = await connectTransport({ url: bed.server.url, name: 'feeds-test-closing', logger: bed.logs.logger });
    try {
      const watch = t.events.watch('w4');
      t.events.claim('w4');
      watch.admitted();
      t.events.publish(started('w4'));
      t.events.publish(token('w4', 0));
      const iter = t.events.read('w4', {})[Symbol.asyncIterator]();
      const first = [(await iter.next()).value as TaskEvent, (await iter.next()).value as TaskEvent];
      t.events.close();
      expect(t.events.watching('w4')).toBe(false);
      t.events.publish(token('w4', 1));
      await t.events.publishDurable(end('w4', 2));
      const rest: TaskEvent[] = [];
      for (let next = await iter.next(); next.done !== true; next = await iter.next()) rest.push(next.value);
      expect([...first, ...rest]).toEqual(await fromStream('w4'));
    } finally {
      await t.close();
    }
  });

  it('a feed is read only once its submit was admitted (a refused duplicate of a running task never is)', async () => {
    bed.transport.events.publish(started('dup1'));
    bed.transport.events.publish(token('dup1', 0));
    await bed.transport.bus.flush();
    // A second submit of the running task watches it; its events from now on are kept, not read.
    const watch = bed.transport.events.watch('dup1');
    bed.transport.events.claim('dup1');
    bed.transport.events.publish(token('dup1', 1));
    await bed.transport.events.publishDurable(end('dup1', 2));
    expect(bed.transport.events.watching('dup1')).toBe(false);
    const events = await collect(bed.transport.events.read('dup1', {}));
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'token', 'end']);
    watch.release();
  });

  it('a reader of a task run here gets every event across a server restart', async () => {
    watchLocal('w6');
    await bed.transport.events.publishDurable(started('w6'));
    const reading = collect(bed.transport.events.read('w6', {}));
    await bed.server.restart();
    await waitForReconnect(() => bed.transport.bus.flush());
    await bed.transport.events.publishDurable(token('w6', 0));
    await bed.transport.events.publishDurable(end('w6', 1));
    const events = await reading;
    expect(events).toEqual(await fromStream('w6'));
    expect(events.at(-1)!.type).toBe('end');
  });

  it('an end whose ack was lost after the stream stored it still ends the memory copy; one never stored does not', async () => {
    // A connection of its own: the testbed's raw one may still be reconnecting after the restart test.
    const nc = await connect({ servers: bed.server.url });
    const inbox = new ReplyInbox(nc);
    const acked = new AckedPublisher(inbox, 5_000);
    // Stores, then fails like an ack timeout; or fails before anything reaches the stream.
    let mode: 'lost-ack' | 'not-sent' = 'lost-ack';
    const flaky: StoredPublish = async (...args) => {
      if (mode === 'lost-ack') await acked.publish(...args);
      throw new Error('TIMEOUT');
    };
    const log = new JetStreamEventLog(nc, nc.jetstream(), await nc.jetstreamManager(), bed.logs.logger, flaky);
    try {
      // ack3: the task ends before its submit is answered (admitted after the failed publish).
      for (const [task, m, admittedFirst] of [['ack1', 'lost-ack', true], ['ack2', 'not-sent', true], ['ack3', 'lost-ack', false]] as const) {
        mode = m;
        const watch = log.watch(task);
        log.claim(task);
        if (admittedFirst) watch.admitted();
        log.publish(started(task));
        await expect(log.publishDurable(end(task, 0))).rejects.toThrow('TIMEOUT');
        if (!admittedFirst) watch.admitted();
      }
      expect(await collect(log.read('ack1', {}))).toEqual([started('ack1'), end('ack1', 0)]);
      expect(await collect(log.read('ack3', {}))).toEqual([started('ack3'), end('ack3', 0)]);
      // Nothing was stored: the memory copy has no end either (a reader waits for the task's real end).
      const ac = new AbortController();
      const seen: TaskEvent[] = [];
      for await (const e of log.read('ack2', { signal: ac.signal })) {
        seen.push(e);
        ac.abort();
      }
      expect(seen).toEqual([started('ack2')]);
    } finally {
      log.close();
      inbox.close();
      await nc.close();
    }
  });
});
