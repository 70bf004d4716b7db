/**
 * One probe command on one open connection, mapped to a ProbeResult. Owns the outcome rules of
 * DESIGN §5: exit 0 is ok; a non-zero exit is a `command` failure and a remote signal a `signal`
 * failure; a channel that closes with no exit status, or a connection lost under it, is a
 * `transport` failure (ssh2 reports a dropped connection with no error); a command past its
 * timeout is closed and reported as `timeout` with the transport still fine.
 */
import type { ClientChannel } from 'ssh2';
import type { ProbeResult } from '../protocols/index.js';
import type { SshConnection } from './ssh-connection.js';
import { TailBuffer } from './tail-buffer.js';
import type { ProbeRequest } from './types.js';

/** Limits of one command run. */
export interface CommandLimits {
  /** Bytes of stdout and of stderr kept (the tail). */
  maxOutputBytes: number;
  /** After a timeout, how long the channel may take to close before the connection is torn down. */
  closeGraceMs: number;
}

type Exit = { code: number } | { signal: string } | { missing: true };

/** Runs `invocation` on `conn`; resolves with the outcome, never rejects. */
export function runCommand(conn: SshConnection, req: ProbeRequest, invocation: string, limits: CommandLimits): Promise<ProbeResult> {
  const started = performance.now();
  const stdout = new TailBuffer(limits.maxOutputBytes);
  const stderr = new TailBuffer(limits.maxOutputBytes);
  const base = () => ({
    name: req.name,
    command: req.command,
    stdout: stdout.text(),
    stderr: stderr.text(),
    duration_ms: Math.round(performance.now() - started),
  });

  if (conn.lost !== undefined) {
    return Promise.resolve({ ...base(), ok: false, transport_ok: false, failure_kind: 'transport', error: conn.lost });
  }
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let timedOut = false;
    let channel: ClientChannel | undefined;
    let exit: Exit | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    const settle = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      unsubscribe();
      resolve(result);
    };
    const timeoutResult = (): ProbeResult => ({
      ...base(),
      ok: false,
      transport_ok: true,
      failure_kind: 'timeout',
      error: `command timed out after ${req.timeoutMs} ms`,
    });
    const transportResult = (reason: string): ProbeResult => ({ ...base(), ok: false, transport_ok: false, failure_kind: 'transport', error: reason });
    const exitResult = (e: Exit): ProbeResult => {
      if ('code' in e && e.code === 0) return { ...base(), ok: true, transport_ok: true, exit_code: 0 };
      if ('code' in e) {
        return { ...base(), ok: false, transport_ok: true, failure_kind: 'command', exit_code: e.code, error: `exit code ${e.code}` };
      }
      if ('signal' in e) {
        return { ...base(), ok: false, transport_ok: true, failure_kind: 'signal', signal: e.signal, error: `killed by ${e.signal}` };
      }
      return transportResult('the remote side sent no exit status');
    };
    // The channel is gone: the outcome is its exit status, or a transport failure without one.
    const channelGone = (reason: string): void => {
      if (timedOut) settle(timeoutResult());
      else settle(exit === undefined ? transportResult(`connection lost before the command exited: ${reason}`) : exitResult(exit));
    };

    // Both are set before any event can call `settle` (ssh2 events and timers are asynchronous).
    const unsubscribe = conn.onLost((reason) => channelGone(reason));
    const timer = setTimeout(() => {
      timedOut = true;
      if (channel !== undefined) stopChannel(channel);
      // A channel that will not close (or never opened) takes the connection down with it; the
      // executor reconnects on the next run.
      graceTimer = setTimeout(() => {
        conn.destroy(`channel did not close within ${limits.closeGraceMs} ms of a command timeout`);
        settle(timeoutResult());
      }, limits.closeGraceMs);
    }, req.timeoutMs);

    conn.client.exec(invocation, (err, ch) => {
      if (err !== undefined && err !== null) {
        settle(transportResult(`cannot open a channel: ${err.message}`));
        return;
      }
      channel = ch;
      if (settled || timedOut) {
        stopChannel(ch);
        return;
      }
      ch.on('data', (chunk: Buffer) => stdout.push(chunk));
      ch.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      ch.on('exit', (code: number | null, signal?: string) => {
        if (typeof code === 'number') exit = { code };
        else if (typeof signal === 'string') exit = { signal };
        else exit = { missing: true };
      });
      ch.on('close', () => channelGone(conn.lost ?? 'channel closed'));
    });
  });
}

/**
 * Best effort: ask the remote side to kill the process, then close the channel. OpenSSH refuses
 * signal requests for root sessions, and without a pty it keeps the channel (and the process)
 * until the process exits, so probe commands must bound themselves (curl --max-time); the executor
 * only guarantees that the caller gets its answer and the connection stays usable.
 */
function stopChannel(ch: ClientChannel): void {
  try {
    ch.signal('KILL');
  } catch {
    // The server may not support signal requests; closing the channel is what matters.
  }
  ch.close();
}
