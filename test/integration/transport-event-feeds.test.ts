/**
 * Watched tasks: their events are kept in memory by one shared live consumer, so reading them
 * opens no consumer per reader; anything that takes the feed away hands readers to the stream.
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SequencedTaskEvent } from '../../src/protocols/index.js';
import { connectTransport, type Transport } from '../../src/transport/index.js';
import { collect, consumerCount as countConsumers, end, started, token, writeTask as writeTaskTo } from '../helpers/task-events.js';
import { captureLogs, printServerOutputOnFailure, startNatsServer, waitFor, waitForReconnect, type TestNats } from '../helpers/nats-server.js';

let server: TestNats | undefined;
let transport: Transport;
let raw: NatsConnection;
let jsm: JetStreamManager;
const logs = captureLogs();
printServerOutputOnFailure(() => server);

beforeAll(async () => {
  server = await startNatsServer();
  transport = await connectTransport({ url: server.url, name: 'feeds-test', logger: logs.logger });
  raw = await connect({ servers: server.url });
  jsm = await raw.jetstreamManager();
});

afterAll(async () => {
  await raw?.close();
  await transport?.close();
  await server?.stop();
});

const writeTask = (task: string, n: number): Promise<number> => writeTaskTo(transport.events, task, n);
const consumerCount = (): Promise<number> => countConsumers(jsm);

/** Reads through a fresh transport, which never watched anything: the stream's view of the task. */
async function fromStream(task: string): Promise<SequencedTaskEvent[]> {
  const other = await connectTransport({ url: server!.url, name: 'feeds-test-reader', logger: logs.logger });
  try {
    return await collect(other.events.read(task, {}));
  } finally {
    await other.close();
  }
}

describe('transport events - watched tasks', () => {
  it('serves a watched task from memory: the same events as the stream, with no consumer of its own', async () => {
    (await transport.events.watch('w1')).admitted();
    expect(transport.events.watching('w1')).toBe(true);
    const live = await consumerCount(); // the shared live consumer
    expect(live).toBe(1);
    await writeTask('w1', 4);
    const iter = transport.events.read('w1', {})[Symbol.asyncIterator]();
    const seen = [(await iter.next()).value as SequencedTaskEvent];
    // Mid-read: a reader with a consumer of its own would show up here.
    expect(await consumerCount()).toBe(live);
    for (let next = await iter.next(); next.done !== true; next = await iter.next()) seen.push(next.value);
    expect(seen).toEqual(await fromStream('w1'));
    expect(seen.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'token', 'token', 'end']);
  });

  it('resumes after a sequence from memory', async () => {
    (await transport.events.watch('w2')).admitted();
    await writeTask('w2', 3);
    const all = await collect(transport.events.read('w2', {}));
    const cut = all[2]!.seq;
    expect(await collect(transport.events.read('w2', { afterSeq: cut }))).toEqual(all.slice(3));
    expect(await collect(transport.events.read('w2', { afterSeq: all.at(-1)!.seq }))).toEqual([]);
  });

  it('keeps only watched tasks: another task is read from the stream', async () => {
    await writeTask('unwatched1', 2);
    expect(transport.events.watching('unwatched1')).toBe(false);
    const events = await collect(transport.events.read('unwatched1', {}));
    expect(events.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'end']);
    await waitFor(async () => (await consumerCount()) === 1);
  });

  it('a release drops the feed; later reads use the stream', async () => {
    const watch = await transport.events.watch('w3');
    watch.release();
    expect(transport.events.watching('w3')).toBe(false);
    await writeTask('w3', 1);
    expect((await collect(transport.events.read('w3', {}))).map((e) => e.event.type)).toEqual(['started', 'token', 'end']);
  });

  it('a reader whose feed goes away (live consumer stopped) continues from the stream without gaps or repeats', async () => {
    (await transport.events.watch('w4')).admitted();
    transport.events.publish(started('w4'));
    transport.events.publish(token('w4', 0));
    const iter = transport.events.read('w4', {})[Symbol.asyncIterator]();
    const first = [(await iter.next()).value as SequencedTaskEvent, (await iter.next()).value as SequencedTaskEvent];
    (transport.events as unknown as { stopLive(): void }).stopLive();
    await waitFor(() => !transport.events.watching('w4'));
    transport.events.publish(token('w4', 1));
    await transport.events.publishDurable(end('w4', 2));
    const rest: SequencedTaskEvent[] = [];
    for (let next = await iter.next(); next.done !== true; next = await iter.next()) rest.push(next.value);
    expect([...first, ...rest]).toEqual(await fromStream('w4'));
    // The next watch starts a new live consumer.
    (await transport.events.watch('w5')).admitted();
    expect(transport.events.watching('w5')).toBe(true);
  });

  it('a feed is read only once its submit was admitted (a refused duplicate of a running task never is)', async () => {
    transport.events.publish(started('dup1'));
    transport.events.publish(token('dup1', 0));
    await transport.bus.flush();
    // A second submit of the running task watches it; its events from now on are kept, not read.
    const watch = await transport.events.watch('dup1');
    transport.events.publish(token('dup1', 1));
    await transport.events.publishDurable(end('dup1', 2));
    expect(transport.events.watching('dup1')).toBe(false);
    const events = await collect(transport.events.read('dup1', {}));
    expect(events.map((e) => e.event.type)).toEqual(['started', 'token', 'token', 'end']);
    watch.release();
  });

  it('a watched reader gets every event across a server restart', async () => {
    (await transport.events.watch('w6')).admitted();
    transport.events.publish(started('w6'));
    const reading = collect(transport.events.read('w6', {}));
    await server!.restart();
    await waitForReconnect(() => transport.bus.flush());
    await transport.events.publishDurable(token('w6', 0));
    await transport.events.publishDurable(end('w6', 1));
    const events = await reading;
    expect(events).toEqual(await fromStream('w6'));
    expect(events.at(-1)!.event.type).toBe('end');
  });
});
