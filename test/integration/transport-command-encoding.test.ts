/**
 * `encodeCommandsWithBuffer` against a real nats-server: protocol lines are no longer encoded with
 * TextEncoder, and every kind of message (plain, with headers, requests with a reply subject,
 * multibyte text in subjects, headers and payloads) arrives unchanged.
 */
import { headers, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeCommandsWithBuffer } from '../../src/transport/command-encoding.js';
import { useNatsServer, withTwoConnections } from '../helpers/nats-server.js';

const server = useNatsServer();

afterEach(() => {
  vi.restoreAllMocks();
});

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** TextEncoder.encode calls while `nc` publishes 100 byte payloads without headers. */
async function textEncodesFor100Publishes(nc: NatsConnection): Promise<number> {
  await nc.flush();
  const payload = bytes('x');
  const encode = vi.spyOn(TextEncoder.prototype, 'encode');
  for (let i = 0; i < 100; i += 1) nc.publish('ce.count', payload);
  const calls = encode.mock.calls.length;
  encode.mockRestore();
  await nc.flush();
  return calls;
}

describe('transport - protocol lines encoded with Buffer.from', () => {
  it('takes TextEncoder off the publish path (without the patch: one encode per message)', async () => {
    await withTwoConnections(server().url, async (plain, patched) => {
      expect(encodeCommandsWithBuffer(patched)).toBe(true);
      expect(await textEncodesFor100Publishes(plain)).toBeGreaterThanOrEqual(100);
      expect(await textEncodesFor100Publishes(patched)).toBe(0);
    });
  });

  it('delivers plain, header-carrying and request messages unchanged, multibyte text included', async () => {
    await withTwoConnections(server().url, async (nc, peer) => {
      encodeCommandsWithBuffer(nc);
      const subject = 'ce.ünïcødé.路由';
      const sub = peer.subscribe(subject, { max: 2 });
      const echo = peer.subscribe('ce.echo', {
        callback: (_err, m) => m.respond(m.data, m.headers === undefined ? undefined : { headers: m.headers }),
      });
      await peer.flush();

      const h = headers();
      h.set('X-Note', 'grüße 👋');
      nc.publish(subject, bytes('plain ✓'));
      nc.publish(subject, bytes('with headers ✓'), { headers: h });
      const got: Array<{ subject: string; data: string; note: string | undefined }> = [];
      for await (const m of sub) got.push({ subject: m.subject, data: new TextDecoder().decode(m.data), note: m.headers?.get('X-Note') });
      expect(got).toEqual([
        { subject, data: 'plain ✓', note: undefined },
        { subject, data: 'with headers ✓', note: 'grüße 👋' },
      ]);

      const reply = await nc.request('ce.echo', bytes('ping ✓'), { timeout: 5_000, headers: h });
      expect(new TextDecoder().decode(reply.data)).toBe('ping ✓');
      expect(reply.headers?.get('X-Note')).toBe('grüße 👋');
      echo.unsubscribe();
    });
  });
});
