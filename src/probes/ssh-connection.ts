/**
 * One ssh2 connection to one host, with its loss made explicit. ssh2 reports a dropped connection
 * as `end`/`close` with no error, and a channel on it just closes with no exit status; this wrapper
 * turns every way a connection can go away into one `lost` reason that running commands see.
 */
import { Client, type ClientErrorExtensions } from 'ssh2';
import type { SshTarget } from './types.js';

/** Default handshake timeout (ssh2 `readyTimeout`, covers TCP connect, key exchange and auth). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default SSH keepalive interval; with the count below a hung peer is noticed in ~15 s. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
/** Default unanswered keepalives before ssh2 gives up with "Keepalive timeout". */
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;

/** A live or lost connection; `ready` resolves to undefined once usable, or to why it never was. */
export class SshConnection {
  /** The ssh2 client; commands open channels on it. */
  readonly client = new Client();
  /** Resolves to undefined when authenticated, or to the transport error text. Never rejects. */
  readonly ready: Promise<string | undefined>;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  private lostReason: string | undefined;
  private readonly lostListeners = new Set<(reason: string) => void>();

  constructor(target: SshTarget, onLost: (reason: string) => void) {
    let markReady: (err: string | undefined) => void = () => undefined;
    let markClosed: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.closed = new Promise((resolve) => (markClosed = resolve));
    this.client.on('ready', () => markReady(undefined));
    this.client.on('error', (err: Error & ClientErrorExtensions) => {
      this.lose(describeError(err));
      markReady(this.lostReason);
    });
    this.client.on('end', () => this.lose('connection ended by the peer'));
    this.client.on('close', () => {
      this.lose('connection closed');
      markReady(this.lostReason);
      markClosed();
    });
    this.lostListeners.add(onLost);
    try {
      this.connect(target);
    } catch (err) {
      // ssh2 throws synchronously on a key it cannot parse: still a failure to reach the host.
      this.lose(`cannot connect: ${err instanceof Error ? err.message : String(err)}`);
      markReady(this.lostReason);
      markClosed();
    }
  }

  private connect(target: SshTarget): void {
    this.client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: target.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      keepaliveInterval: target.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: target.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
      // Rented hosts have fresh, unknown host keys (the seed ran with StrictHostKeyChecking=no).
      hostVerifier: () => true,
    });
  }

  /** Why the connection is gone, or undefined while it is usable (or still connecting). */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Calls `listener` once if the connection is lost; returns the unsubscribe function. */
  onLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Tears the connection down now (no graceful disconnect), e.g. when a channel will not close. */
  destroy(reason: string): void {
    this.lose(reason);
    this.client.destroy();
  }

  /** Ends the connection gracefully and waits (bounded) for the socket to close. */
  async end(graceMs: number): Promise<void> {
    this.lose('connection closed by the executor');
    this.client.end();
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, graceMs);
    });
    await Promise.race([this.closed, forced]);
    clearTimeout(timer);
  }

  private lose(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    for (const listener of [...this.lostListeners]) listener(reason);
    this.lostListeners.clear();
  }
}

function describeError(err: Error & ClientErrorExtensions): string {
  const detail = err.description === undefined || err.description === '' ? '' : ` (${err.description})`;
  return err.level === undefined ? `${err.message}${detail}` : `${err.level}: ${err.message}${detail}`;
}
