import { describe, expect, it } from 'vitest';
import { END_POSITION, STREAMS, positionOf, subjects, type TaskEvent } from '../../src/protocols/index.js';
import { connectTransport } from '../../src/transport/index.js';
import { eventsTestbed } from '../helpers/events-testbed.js';
import { collect, end, started, token } from '../helpers/task-events.js';
import { LOG_LEVEL, waitFor, waitForReconnect } from '../helpers/nats-server.js';

const bed = eventsTestbed('events-test');

describe('transport events - reading', () => {
  it('replays a finished task and ends at its terminal event, in stream order', async () => {
    await bed.writeTask('done1', 5);
    await bed.writeTask('other1', 2); // another task's events are not mixed in
    const events = await collect(bed.transport.events.read('done1', {}));
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'token', 'token', 'token', 'token', 'end']);
    expect(events.map((e) => (e.type === 'token' && 'i' in e.data ? e.data.i : -1))).toEqual([-1, 0, 1, 2, 3, 4, -1]);
    expect(events.map(positionOf)).toEqual([0, 1, 2, 3, 4, 5, END_POSITION]);
    await waitFor(async () => (await bed.consumerCount()) === 0);
  });

  it('delivers live events to a reader that started before the task had any', async () => {
    const reader = collect(bed.transport.events.read('live1', {}));
    await waitFor(async () => (await bed.consumerCount()) === 1);
    bed.transport.events.publish(started('live1'));
    bed.transport.events.publish(token('live1', 0));
    await bed.transport.events.publishDurable(end('live1', 1));
    const events = await reader;
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'end']);
    await waitFor(async () => (await bed.consumerCount()) === 0);
  });

  it('resumes after a position with exactly the missing events', async () => {
    await bed.writeTask('resume1', 6);
    const all = await collect(bed.transport.events.read('resume1', {}));
    const rest = await collect(bed.transport.events.read('resume1', { afterPosition: positionOf(all[3]!)! }));
    expect(rest).toEqual(all.slice(4));
    await expect(collect(bed.transport.events.read('resume1', { afterPosition: 0 }))).resolves.toEqual(all.slice(1));
  });

  it('a resume inside a batch gets the rest of it', async () => {
    bed.transport.events.publish(started('batch1'));
    bed.transport.events.publish({ type: 'token', task_id: 'batch1', data: { batch: [0, 1, 2].map((i) => ({ t: `t${i}`, i })) } });
    await bed.transport.events.publishDurable(end('batch1', 3));
    const rest = await collect(bed.transport.events.read('batch1', { afterPosition: 1 }));
    expect(rest).toEqual([{ type: 'token', task_id: 'batch1', data: { batch: [1, 2].map((i) => ({ t: `t${i}`, i })) } }, end('batch1', 3)]);
  });

  it('stops at the terminal event even if something follows it', async () => {
    await bed.transport.events.publishDurable(started('after1'));
    await bed.transport.events.publishDurable(end('after1', 0));
    await bed.transport.events.publishDurable(token('after1', 99));
    const events = await collect(bed.transport.events.read('after1', {}));
    expect(events.map((e) => e.type)).toEqual(['started', 'end']);
  });

  it('ends on an error event', async () => {
    await bed.transport.events.publishDurable(started('err1'));
    await bed.transport.events.publishDurable({ type: 'error', task_id: 'err1', data: { code: 'WORKER_RESET', message: 'engine died', retriable: true } });
    const events = await collect(bed.transport.events.read('err1', {}));
    expect(events.map((e) => e.type)).toEqual(['started', 'error']);
  });

  it('skips malformed events with a warning', async () => {
    const before = bed.logs.lines.length;
    await bed.transport.events.publishDurable(started('bad1'));
    // Acked publishes from another connection, so they are stored before the end event.
    await bed.raw.jetstream().publish(subjects.taskEvents('bad1'), new Uint8Array([0xc1]));
    await bed.raw.jetstream().publish(subjects.taskEvents('bad1'), new TextEncoder().encode('x'));
    await bed.transport.events.publishDurable(end('bad1', 0));
    const events = await collect(bed.transport.events.read('bad1', {}));
    expect(events.map((e) => e.type)).toEqual(['started', 'end']);
    expect(bed.logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn && l['task_id'] === 'bad1')).toHaveLength(2);
  });

  it('stops when the signal aborts, leaving no consumer and no timer behind', async () => {
    await bed.transport.events.publishDurable(started('abort1'));
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const ac = new AbortController();
    const got: TaskEvent[] = [];
    const reading = (async () => {
      for await (const e of bed.transport.events.read('abort1', { signal: ac.signal })) got.push(e);
    })();
    await waitFor(() => got.length === 1);
    expect(await bed.consumerCount()).toBe(1);
    ac.abort();
    await reading;
    expect(got.map((e) => e.type)).toEqual(['started']);
    expect(await bed.consumerCount()).toBe(0);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });

  it('a reader abandoned by its caller (break) cleans up too', async () => {
    await bed.writeTask('break1', 3);
    for await (const e of bed.transport.events.read('break1', {})) {
      expect(e.type).toBe('started');
      break;
    }
    expect(await bed.consumerCount()).toBe(0);
  });

  it('an already aborted signal reads nothing', async () => {
    await bed.writeTask('pre1', 1);
    await expect(collect(bed.transport.events.read('pre1', { signal: AbortSignal.abort() }))).resolves.toEqual([]);
  });
});

describe('transport events - stream', () => {
  it('is ensured idempotently, a new max age updates it', async () => {
    const t2 = await connectTransport({ url: bed.server.url, name: 'events-test-2', logger: bed.logs.logger, eventsMaxAgeMs: 120_000 });
    try {
      const info = await bed.jsm.streams.info(STREAMS.events.name);
      expect(info.config.max_age).toBe(120_000 * 1_000_000);
      expect(info.config.subjects).toEqual([...STREAMS.events.subjects]);
      expect(info.config.storage).toBe('file');
      expect(info.state.messages).toBeGreaterThan(0); // nothing was lost
    } finally {
      await t2.close();
    }
  });

  it('events survive a server restart and the transport reconnects', async () => {
    await bed.writeTask('restart1', 3);
    const before = await collect(bed.transport.events.read('restart1', {}));
    await bed.server.restart();
    await waitForReconnect(() => bed.transport.bus.flush());
    const after = await collect(bed.transport.events.read('restart1', {}));
    expect(after).toEqual(before);
    expect(after.at(-1)!.type).toBe('end');
    // And the log keeps working after the restart.
    await bed.writeTask('restart2', 1);
    expect((await collect(bed.transport.events.read('restart2', {}))).map((e) => e.type)).toEqual(['started', 'token', 'end']);
    expect(bed.logs.lines.some((l) => l.level === LOG_LEVEL.warn && /disconnected/.test(l.msg))).toBe(true);
    expect(bed.logs.lines.some((l) => l.level === LOG_LEVEL.info && /reconnected/.test(l.msg))).toBe(true);
  });
});

describe('transport events - resume at the end', () => {
  it('a read after the terminal event ends at once instead of waiting', async () => {
    await bed.writeTask('ended1', 1);
    await expect(collect(bed.transport.events.read('ended1', { afterPosition: END_POSITION }))).resolves.toEqual([]);
    // Past the last token but before the end: just the end.
    await expect(collect(bed.transport.events.read('ended1', { afterPosition: 100 }))).resolves.toEqual([end('ended1', 1)]);
  });
});
