/**
 * `settleAnsweredRequestsQuietly` against a real nats-server: an answered request resolves and
 * releases its inbox entry without building an error; timeouts and no-responders fail as before.
 */
import { connect, ErrorCode, NatsError, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { settleAnsweredRequestsQuietly } from '../../src/transport/request-settle.js';
import { useNatsServer } from '../helpers/nats-server.js';

const server = useNatsServer();
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: server().url, noAsyncTraces: true });
  nc.subscribe('echo', { callback: (_err, m) => m.respond(m.data) });
  await nc.flush();
});
afterAll(async () => {
  await nc?.close();
});

/** Requests waiting for an answer in the connection's inbox multiplexer (nats.js internals). */
function pendingRequests(): number {
  return (nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }).protocol.muxSubscriptions.size();
}

describe('transport - answered NATS requests settle without an error', () => {
  it('patches nats.js, once', () => {
    expect(settleAnsweredRequestsQuietly()).toBe(true);
    expect(settleAnsweredRequestsQuietly()).toBe(true);
  });

  it('an answered request resolves with the answer, builds no error and leaves nothing pending', async () => {
    settleAnsweredRequestsQuietly();
    const errors = vi.spyOn(NatsError, 'errorForCode');
    try {
      const answers = await Promise.all([1, 2, 3].map((n) => nc.request('echo', new Uint8Array([n]), { timeout: 5_000 })));
      expect(answers.map((m) => m.data[0])).toEqual([1, 2, 3]);
      expect(errors).not.toHaveBeenCalled();
      expect(pendingRequests()).toBe(0);
    } finally {
      errors.mockRestore();
    }
  });

  it('a request nobody answers in time still times out, and one nobody serves still fails fast', async () => {
    settleAnsweredRequestsQuietly();
    const silent = nc.subscribe('silent');
    await nc.flush();
    await expect(nc.request('silent', new Uint8Array(), { timeout: 50 })).rejects.toMatchObject({ code: ErrorCode.Timeout });
    silent.unsubscribe();
    await expect(nc.request('nobody.here', new Uint8Array(), { timeout: 5_000 })).rejects.toMatchObject({ code: ErrorCode.NoResponders });
    expect(pendingRequests()).toBe(0);
  });
});
