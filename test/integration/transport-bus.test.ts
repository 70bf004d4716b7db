import { connect, headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DroverError, ErrorEnvelopeSchema, decode, encode } from '../../src/protocols/index.js';
import { connectTransport, type Transport } from '../../src/transport/index.js';
import { NatsBus } from '../../src/transport/bus.js';
import { ReplyInbox } from '../../src/transport/reply-inbox.js';
import { captureLogs, LOG_LEVEL, useNatsServer, waitFor } from '../helpers/nats-server.js';

const EchoReq = z.object({ text: z.string(), n: z.number().int() });
const EchoRes = z.object({ echoed: z.string(), n: z.number().int() });

const server = useNatsServer();
let transport: Transport;
let raw: NatsConnection;
const logs = captureLogs();

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'bus-test', logger: logs.logger });
  raw = await connect({ servers: server().url });
});

afterAll(async () => {
  await raw?.close();
  await transport?.close();
});

describe('transport bus - request/reply', () => {
  it('round-trips in msgpack and in JSON', async () => {
    const sub = transport.bus.serve('test.echo', { schema: EchoReq }, (req, info) => ({ echoed: `${req.text}:${info.encoding}`, n: req.n + 1 }));
    try {
      await expect(transport.bus.request('test.echo', { text: 'hi', n: 1 }, { schema: EchoRes })).resolves.toEqual({ echoed: 'hi:msgpack', n: 2 });
      await expect(transport.bus.request('test.echo', { text: 'hi', n: 1 }, { schema: EchoRes, encoding: 'json' })).resolves.toEqual({
        echoed: 'hi:json',
        n: 2,
      });
    } finally {
      await sub.unsubscribe();
    }
  });

  it('answers a raw JSON request from any NATS client in JSON, errors as a JSON envelope', async () => {
    const sub = transport.bus.serve('test.json', { schema: EchoReq }, (req) => {
      if (req.text === 'missing') throw new DroverError('NOT_FOUND', 'no such thing');
      return { echoed: req.text, n: req.n };
    });
    try {
      // The subscription lives on another connection than `raw`: make sure the server has it.
      await transport.bus.flush();
      const h = headers();
      h.set('Content-Type', 'application/json');
      const ok = await raw.request('test.json', new TextEncoder().encode(JSON.stringify({ text: 'x', n: 3 })), { timeout: 2000, headers: h });
      expect(ok.headers?.get('Content-Type')).toBe('application/json');
      expect(ok.headers?.has('Drover-Error') ?? false).toBe(false);
      expect(JSON.parse(new TextDecoder().decode(ok.data))).toEqual({ echoed: 'x', n: 3 });

      const bad = await raw.request('test.json', new TextEncoder().encode(JSON.stringify({ text: 'missing', n: 3 })), { timeout: 2000, headers: h });
      expect(bad.headers?.get('Content-Type')).toBe('application/json');
      expect(bad.headers?.get('Drover-Error')).toBe('1');
      const env = ErrorEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(bad.data)));
      expect(env).toMatchObject({ code: 'NOT_FOUND', message: 'no such thing', retriable: false });

      const invalid = await raw.request('test.json', new TextEncoder().encode('{not json'), { timeout: 2000, headers: h });
      expect(invalid.headers?.get('Drover-Error')).toBe('1');
      expect(ErrorEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(invalid.data))).code).toBe('INVALID_PARAMS');
    } finally {
      await sub.unsubscribe();
    }
  });

  it('answers a bad payload with INVALID_PARAMS, logs it once, and keeps serving', async () => {
    let calls = 0;
    const sub = transport.bus.serve('test.strict', { schema: EchoReq }, (req) => {
      calls++;
      return { echoed: req.text, n: req.n };
    });
    try {
      // The subscription lives on another connection than `raw`: make sure the server has it.
      await transport.bus.flush();
      const before = logs.lines.length;
      const err = await transport.bus.request('test.strict', { text: 42 }, { schema: EchoRes }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DroverError);
      expect((err as DroverError).code).toBe('INVALID_PARAMS');
      expect((err as DroverError).message).toMatch(/^text: .+; n: .+$/);
      const warns = logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn && l['subject'] === 'test.strict');
      expect(warns).toHaveLength(1);

      // Bytes that are not msgpack at all (0xc1 is never used by msgpack).
      const garbage = await raw.request('test.strict', new Uint8Array([0xc1, 0xc1]), { timeout: 2000 });
      expect(garbage.headers?.get('Drover-Error')).toBe('1');
      expect(ErrorEnvelopeSchema.parse(decode(garbage.data)).code).toBe('INVALID_PARAMS');

      await expect(transport.bus.request('test.strict', { text: 'still here', n: 7 }, { schema: EchoRes })).resolves.toEqual({ echoed: 'still here', n: 7 });
      expect(calls).toBe(1);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('passes a DroverError code through, turns other throws into INTERNAL', async () => {
    const sub = transport.bus.serve('test.fail', { schema: z.object({ how: z.enum(['typed', 'defect']) }) }, (req) => {
      if (req.how === 'typed') throw new DroverError('ADMISSION_REJECT', 'queue full', { retryAfterMs: 250, policyLabel: 'reject' });
      throw new TypeError('boom');
    });
    try {
      const before = logs.lines.length;
      const typed = await transport.bus.request('test.fail', { how: 'typed' }, { schema: z.unknown() }).catch((e: unknown) => e);
      expect(typed).toBeInstanceOf(DroverError);
      expect(typed).toMatchObject({ code: 'ADMISSION_REJECT', message: 'queue full', retryAfterMs: 250, policyLabel: 'reject' });

      const defect = await transport.bus.request('test.fail', { how: 'defect' }, { schema: z.unknown() }).catch((e: unknown) => e);
      expect(defect).toBeInstanceOf(DroverError);
      expect(defect).toMatchObject({ code: 'INTERNAL', message: 'boom' });
      expect(logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.error && l['subject'] === 'test.fail')).toHaveLength(1);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('maps no responders to POOL_UNAVAILABLE', async () => {
    const err = await transport.bus.request('test.nobody', {}, { schema: z.unknown() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroverError);
    expect(err).toMatchObject({ code: 'POOL_UNAVAILABLE', message: 'no scheduler answers on test.nobody', retryAfterMs: 1000 });
  });

  it('maps a timeout to INTERNAL with the subject and the time', async () => {
    const hold = gate();
    const sub = transport.bus.serve('test.slow', { schema: z.unknown() }, async () => {
      await hold.promise;
      return 'late';
    });
    try {
      const err = await transport.bus.request('test.slow', {}, { schema: z.string(), timeoutMs: 150 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DroverError);
      expect(err).toMatchObject({ code: 'INTERNAL', message: 'request on test.slow timed out after 150 ms' });
    } finally {
      hold.open();
      await sub.unsubscribe();
    }
  });

  it('rejects a reply that fails the schema as INTERNAL', async () => {
    const sub = transport.bus.serve('test.shape', { schema: z.unknown() }, () => ({ wrong: true }));
    try {
      const err = await transport.bus.request('test.shape', {}, { schema: EchoRes }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INTERNAL' });
      expect((err as Error).message).toMatch(/^invalid reply on test\.shape: /);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('handles requests concurrently: a slow request does not block a fast one', async () => {
    const hold = gate();
    const sub = transport.bus.serve('test.mixed', { schema: z.object({ slow: z.boolean() }) }, async (req) => {
      if (req.slow) await hold.promise;
      return req.slow ? 'slow' : 'fast';
    });
    try {
      const slow = transport.bus.request('test.mixed', { slow: true }, { schema: z.string(), timeoutMs: 5000 });
      // If requests were serialized, this one would wait behind the held one and time out.
      await expect(transport.bus.request('test.mixed', { slow: false }, { schema: z.string(), timeoutMs: 2000 })).resolves.toBe('fast');
      hold.open();
      await expect(slow).resolves.toBe('slow');
    } finally {
      hold.open();
      await sub.unsubscribe();
    }
  });

  it('ignores (and logs) a message without a reply subject on a served subject', async () => {
    const sub = transport.bus.serve('test.noreply', { schema: z.unknown() }, () => 'ok');
    try {
      // The subscription lives on another connection than `raw`: make sure the server has it.
      await transport.bus.flush();
      const before = logs.lines.length;
      raw.publish('test.noreply', encode({}));
      // Messages from one connection arrive in order: once this reply is in, the publish was handled.
      await raw.request('test.noreply', encode({}), { timeout: 2000 });
      expect(logs.lines.slice(before).some((l) => l.level === LOG_LEVEL.warn && /without a reply subject/.test(l.msg))).toBe(true);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('unsubscribe waits for handlers in flight', async () => {
    const hold = gate();
    let entered = false;
    let finished = false;
    const sub = transport.bus.serve('test.inflight', { schema: z.unknown() }, async () => {
      entered = true;
      await hold.promise;
      finished = true;
      return 'done';
    });
    const reply = transport.bus.request('test.inflight', {}, { schema: z.string(), timeoutMs: 5000 });
    await waitFor(() => entered);
    const unsubscribed = sub.unsubscribe();
    hold.open();
    await unsubscribed;
    expect(finished).toBe(true);
    await expect(reply).resolves.toBe('done');
  });
});

describe('transport bus - subscribe', () => {
  it('delivers valid messages and drops (and logs) bad ones', async () => {
    const got: Array<{ text: string; n: number }> = [];
    const before = logs.lines.length;
    const sub = transport.bus.subscribe('test.topic', { schema: EchoReq }, (v) => {
      got.push(v);
    });
    try {
      await transport.bus.flush();
      transport.bus.publish('test.topic', { text: 'bad' });
      raw.publish('test.topic', new Uint8Array([0xc1]));
      transport.bus.publish('test.topic', { text: 'json', n: 2 }, 'json');
      transport.bus.publish('test.topic', { text: 'good', n: 1 });
      await waitFor(() => got.length === 2);
      expect(got).toEqual([
        { text: 'json', n: 2 },
        { text: 'good', n: 1 },
      ]);
      expect(logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn && l['subject'] === 'test.topic')).toHaveLength(2);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('keeps delivering after a handler throws', async () => {
    const got: number[] = [];
    const sub = transport.bus.subscribe('test.throwing', { schema: z.number() }, (n) => {
      got.push(n);
      if (n === 1) throw new Error('handler bug');
    });
    try {
      await transport.bus.flush();
      transport.bus.publish('test.throwing', 1);
      transport.bus.publish('test.throwing', 2);
      await waitFor(() => got.length === 2);
      expect(got).toEqual([1, 2]);
    } finally {
      await sub.unsubscribe();
    }
  });
});

describe('transport bus - close', () => {
  it('closes the connection even when a stopped subscription makes nats.js give up its drain', async () => {
    const nc = await connect({ servers: server().url });
    try {
      const received: unknown[] = [];
      const watcher = raw.subscribe('test.close.out', { callback: (_err, m) => received.push(decode(m.data, 'msgpack')) });
      await raw.flush();
      // A subscription whose first-message timeout fired has stopped, yet nats.js still lists it:
      // its drain is refused, and nats.js's own `drain()` then resolves with the connection open.
      const stopped = nc.subscribe('test.close.never', { timeout: 10, callback: () => undefined });
      await waitFor(() => stopped.isClosed());
      const before = logs.lines.length;
      const bus = new NatsBus(nc, logs.logger, server().url, new ReplyInbox(nc));
      bus.publish('test.close.out', 'last words');
      await bus.close();
      expect(nc.isClosed()).toBe(true);
      await waitFor(() => received.length === 1);
      expect(received).toEqual(['last words']);
      expect(logs.lines.slice(before).filter((l) => l.level === LOG_LEVEL.warn && String(l['msg']).includes('drain left the connection open'))).toHaveLength(1);
      watcher.unsubscribe();
    } finally {
      if (!nc.isClosed()) await nc.close();
    }
  });
});
