/**
 * One socket write per event-loop turn for a NATS connection.
 *
 * nats.js (2.x) writes its outbound buffer in a microtask queued by the first command after a
 * write, so a process that publishes from many callbacks in one turn (a busy relay, placement,
 * the API: each hop is its own callback) makes one `write(2)` per callback. On loopback in a VM
 * each write is a wake-up of nats-server costing tens of microseconds of CPU, which made NATS
 * writes the largest single cost of a relayed token (bench `relay`, `node --cpu-prof`).
 *
 * Here the connection's flush is moved from that microtask to one `setImmediate`: everything the
 * process sends during a turn leaves in one write at the end of the turn's I/O, like Nagle's
 * algorithm bounded by a loop turn instead of a timer. A buffer past nats.js's own pending limit
 * still flushes at once. The patch touches one method of the connection's protocol handler; if a
 * nats.js upgrade changes that shape, nothing is patched and the connection works as before.
 */
import type { NatsConnection } from 'nats';

/** The part of nats.js's ProtocolHandler this relies on (not in its public types). */
interface ProtocolInternals {
  flushPending: () => void;
  outbound: { size(): number };
  pendingLimit: number;
}

function protocolOf(nc: NatsConnection): ProtocolInternals | undefined {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (
    protocol === undefined ||
    typeof protocol.flushPending !== 'function' ||
    typeof protocol.outbound?.size !== 'function' ||
    typeof protocol.pendingLimit !== 'number'
  ) {
    return undefined;
  }
  return protocol as ProtocolInternals;
}

/** Defers `nc`'s socket writes to the end of the turn; false when nats.js does not have the expected shape. */
export function coalesceWritesPerTurn(nc: NatsConnection): boolean {
  const protocol = protocolOf(nc);
  if (protocol === undefined) return false;
  const flushNow = protocol.flushPending.bind(protocol);
  let scheduled = false;
  const flushScheduled = (): void => {
    scheduled = false;
    flushNow();
  };
  protocol.flushPending = () => {
    if (protocol.outbound.size() >= protocol.pendingLimit) {
      flushNow();
      return;
    }
    if (scheduled) return;
    scheduled = true;
    setImmediate(flushScheduled);
  };
  return true;
}
