/**
 * Protocol lines (`PUB subject reply size`, `HPUB …`, `SUB …`) encoded with `Buffer.from`.
 *
 * nats.js (2.x) turns every protocol line into bytes with a `TextEncoder`, which on Node 20 takes
 * about 0.8 µs for a 70-byte `PUB` line against 0.1 µs for `Buffer.from` (a fresh ArrayBuffer per
 * call instead of a slice of Node's buffer pool). A task's admission and relay send about ten
 * messages, so that was roughly 2 % of a loaded process's CPU. nats.js copies the line into its
 * outbound buffer at once, so the pooled slice is never kept. The patch wraps one method of the
 * connection's protocol handler; if a nats.js upgrade changes its shape, nothing is patched and
 * the connection works as before.
 */
import type { NatsConnection } from 'nats';

type SendCommand = (cmd: string | Uint8Array, ...payloads: Uint8Array[]) => void;

/** Encodes `nc`'s protocol lines with `Buffer.from`; false when nats.js does not have the expected shape. */
export function encodeCommandsWithBuffer(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: { sendCommand?: unknown } }).protocol;
  if (protocol === undefined || typeof protocol.sendCommand !== 'function') return false;
  const send = (protocol.sendCommand as SendCommand).bind(protocol);
  protocol.sendCommand = ((cmd, ...payloads) => send(typeof cmd === 'string' ? Buffer.from(cmd, 'utf8') : cmd, ...payloads)) satisfies SendCommand;
  return true;
}
