/**
 * The SSH probe executor (DESIGN §5): runs probe commands on one host over one reused ssh2
 * connection, connected lazily and replaced on the next run after it is lost. Every command runs
 * as `bash -c '<set -euo pipefail + command>'`, logged verbatim at debug level with the key path
 * redacted; every failure comes back as a ProbeResult, transport apart from command.
 */
import type { Logger } from 'pino';
import type { ProbeResult } from '../protocols/index.js';
import { bashInvocation } from './quote.js';
import { runCommand, type CommandLimits } from './ssh-command.js';
import { SshConnection } from './ssh-connection.js';
import type { ProbeExecutor, ProbeRequest, SshTarget } from './types.js';

/** Tunables of the SSH executor; the defaults suit probes. */
export interface SshExecutorOptions {
  /** Bytes of stdout and of stderr kept per command (the tail); default 64 KiB. */
  maxOutputBytes?: number;
  /** After a timeout, how long the channel may take to close before the connection is dropped; default 1 s. */
  closeGraceMs?: number;
  /**
   * Commands run at once on the connection; more wait their turn (not counted in their timeout).
   * OpenSSH refuses channels past `MaxSessions` (default 10) and frees a session a moment after
   * its channel closed, so up to twice this many can count at once: the default is 4.
   */
  maxConcurrent?: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 1_000;
const DEFAULT_MAX_CONCURRENT = 4;

/** Creates the SSH probe executor for one host. Nothing connects until the first `run`. */
export function createSshExecutor(target: SshTarget, logger: Logger, opts: SshExecutorOptions = {}): ProbeExecutor {
  return new SshProbeExecutor(target, logger, opts);
}

/** ProbeExecutor over ssh2: one connection per host, reused across commands. */
export class SshProbeExecutor implements ProbeExecutor {
  private readonly logger: Logger;
  private readonly limits: CommandLimits;
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private conn: SshConnection | undefined;
  private closed = false;

  /** Prefer `createSshExecutor`; the class is exported for tests and `instanceof`. */
  constructor(
    private readonly target: SshTarget,
    logger: Logger,
    opts: SshExecutorOptions = {},
  ) {
    // Only the address goes into the logs: never the key, and the key path redacted.
    this.logger = logger.child({
      ssh: { host: target.host, port: target.port, user: target.user, ...(target.keyPath === undefined ? {} : { key_path: '[redacted]' }) },
    });
    this.limits = {
      maxOutputBytes: opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      closeGraceMs: opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS,
    };
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  }

  /** Runs one command; connects first if needed. Never throws for transport or command failures. */
  async run(req: ProbeRequest): Promise<ProbeResult> {
    const started = performance.now();
    const invocation = bashInvocation(req.command);
    this.logger.debug({ probe: req.name, timeout_ms: req.timeoutMs, invocation }, 'probe run');
    await this.acquire();
    try {
      return await this.runNow(req, invocation, started);
    } finally {
      this.release();
    }
  }

  private async runNow(req: ProbeRequest, invocation: string, started: number): Promise<ProbeResult> {
    const conn = await this.connection();
    const result =
      typeof conn === 'string'
        ? {
            name: req.name,
            command: req.command,
            ok: false,
            transport_ok: false,
            failure_kind: 'transport' as const,
            stdout: '',
            stderr: '',
            error: conn,
            duration_ms: Math.round(performance.now() - started),
          }
        : await runCommand(conn, req, invocation, this.limits);
    this.logger.debug(
      {
        probe: req.name,
        ok: result.ok,
        failure_kind: result.failure_kind,
        exit_code: result.exit_code,
        signal: result.signal,
        error: result.error,
        duration_ms: result.duration_ms,
      },
      'probe done',
    );
    return result;
  }

  /** Ends the connection; later runs fail as transport failures. */
  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) await conn.end(this.limits.closeGraceMs);
  }

  async disconnect(): Promise<void> {
    // A command in flight keeps its connection; the caller disconnects an idle executor.
    if (this.running > 0) return;
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) await conn.end(this.limits.closeGraceMs);
  }

  private async acquire(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return;
    }
    // The slot is handed over by `release`, so `running` stays counted.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }

  /** The usable connection, or the transport error text. Concurrent runs share one connect. */
  private async connection(): Promise<SshConnection | string> {
    if (this.closed) return 'executor closed';
    if (this.conn === undefined || this.conn.lost !== undefined) {
      if (this.conn !== undefined) this.logger.debug({ reason: this.conn.lost }, 'ssh reconnecting');
      this.conn = new SshConnection(this.target, (reason) => this.logger.debug({ reason }, 'ssh connection lost'));
    }
    const conn = this.conn;
    const err = await conn.ready;
    if (err !== undefined) {
      conn.client.destroy();
      return err;
    }
    if (conn.lost !== undefined) return conn.lost;
    return conn;
  }
}
