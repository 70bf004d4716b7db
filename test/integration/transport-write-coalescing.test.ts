/**
 * `coalesceWritesPerTurn` against a real nats-server: what a connection sends from many callbacks
 * within one event-loop turn leaves in one socket write, in order, and nothing is lost.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { coalesceWritesPerTurn } from '../../src/transport/write-coalescing.js';
import { useNatsServer } from '../helpers/nats-server.js';

const server = useNatsServer();

/** Counts the writes nats.js makes on its socket (reaches into the transport, as the patch does). */
function countWrites(nc: NatsConnection): () => number {
  const socket = (nc as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }).protocol.transport.socket;
  let writes = 0;
  const write = socket.write.bind(socket);
  socket.write = (...a: unknown[]) => {
    writes += 1;
    return write(...a);
  };
  return () => writes;
}

/** Publishes `n` messages, each from its own microtask, all within one turn. */
async function publishFromMicrotasks(nc: NatsConnection, subject: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    await Promise.resolve();
    nc.publish(subject, new TextEncoder().encode(String(i)));
  }
}

async function receive(nc: NatsConnection, subject: string, n: number): Promise<{ done: Promise<string[]> }> {
  const sub = nc.subscribe(subject, { max: n });
  await nc.flush();
  const done = (async () => {
    const got: string[] = [];
    for await (const m of sub) got.push(new TextDecoder().decode(m.data));
    return got;
  })();
  return { done };
}

describe('transport - NATS writes coalesced per turn', () => {
  it('publishes from 50 callbacks of one turn go out in one write, in order', async () => {
    const nc = await connect({ servers: server().url });
    const reader = await connect({ servers: server().url });
    try {
      expect(coalesceWritesPerTurn(nc)).toBe(true);
      const { done } = await receive(reader, 'wc.patched', 50);
      await nc.flush();
      await nextTurn();
      const writes = countWrites(nc);
      await publishFromMicrotasks(nc, 'wc.patched', 50);
      expect(writes()).toBe(0); // nothing written before the turn ends
      await nextTurn();
      expect(writes()).toBe(1);
      expect(await done).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    } finally {
      await nc.close();
      await reader.close();
    }
  });

  it('without the patch the same publishes take one write each (what the patch is for)', async () => {
    const nc = await connect({ servers: server().url });
    try {
      await nc.flush();
      const writes = countWrites(nc);
      await publishFromMicrotasks(nc, 'wc.plain', 50);
      await nextTurn();
      expect(writes()).toBeGreaterThanOrEqual(50);
    } finally {
      await nc.close();
    }
  });

  it('a burst past the pending limit is written at once, and flush() loses nothing', async () => {
    const nc = await connect({ servers: server().url });
    const reader = await connect({ servers: server().url });
    try {
      coalesceWritesPerTurn(nc);
      const { done } = await receive(reader, 'wc.big', 200);
      const writes = countWrites(nc);
      const payload = new Uint8Array(4096);
      for (let i = 0; i < 199; i += 1) nc.publish('wc.big', payload);
      expect(writes()).toBeGreaterThan(0); // 800 KB cannot wait for the end of the turn
      nc.publish('wc.big', payload);
      await nc.flush();
      expect(await done).toHaveLength(200);
    } finally {
      await nc.close();
      await reader.close();
    }
  });
});
