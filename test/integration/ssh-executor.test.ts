import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bashInvocation, createSshExecutor, shellQuote, type ProbeExecutor, type SshExecutorOptions, type SshTarget } from '../../src/probes/index.js';
import { closedPort, startSilentPeer, startSshd, type TestSshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait-for.js';

let sshd: TestSshd;
const executors: ProbeExecutor[] = [];
const strayPids: number[] = [];
const quiet = pino({ level: 'silent' });

function executor(target: SshTarget = sshd.target(), logger: Logger = quiet, opts: SshExecutorOptions = {}): ProbeExecutor {
  const exec = createSshExecutor(target, logger, opts);
  executors.push(exec);
  return exec;
}

/** Waits until the sshd process serving a session is gone. */
const sessionEnded = (sessionPid: number): Promise<void> =>
  waitFor('the session sshd to exit', () => {
    try {
      process.kill(sessionPid, 0);
      return false;
    } catch {
      return true;
    }
  });

const run = (exec: ProbeExecutor, command: string, timeoutMs = 10_000) => exec.run({ name: 'test', command, timeoutMs });

beforeAll(async () => {
  sshd = await startSshd();
});
afterEach(async () => {
  await Promise.all(executors.splice(0).map((e) => e.close()));
  for (const pid of strayPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
afterAll(async () => {
  await sshd?.stop();
});
beforeEach((ctx) => {
  ctx.onTestFailed(() => console.error(`--- sshd output ---\n${sshd?.output() ?? ''}\n--- end of sshd output ---`));
});

describe('ssh executor', () => {
  it('ssh executor - returns stdout, stderr and exit code 0', async () => {
    const r = await run(executor(), 'echo hello; echo oops >&2');
    expect(r).toMatchObject({ name: 'test', ok: true, transport_ok: true, exit_code: 0, stdout: 'hello\n', stderr: 'oops\n' });
    expect(r.failure_kind).toBeUndefined();
  });

  it('ssh executor - a non-zero exit is a command failure with its output', async () => {
    const r = await run(executor(), 'echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ ok: false, transport_ok: true, failure_kind: 'command', exit_code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('ssh executor - a remote signal is a signal failure', async () => {
    const r = await run(executor(), 'kill -TERM $$');
    expect(r).toMatchObject({ ok: false, transport_ok: true, failure_kind: 'signal', signal: 'SIGTERM' });
    expect(r.exit_code).toBeUndefined();
  });

  it('ssh executor - pipefail is in effect', async () => {
    const exec = executor();
    expect(await run(exec, 'false | true')).toMatchObject({ ok: false, failure_kind: 'command', exit_code: 1 });
    expect(await run(exec, 'echo "$NOT_SET_ANYWHERE"')).toMatchObject({ ok: false, failure_kind: 'command' });
    expect(await run(exec, 'false\necho unreachable')).toMatchObject({ ok: false, stdout: '' });
  });

  it('ssh executor - a command past its timeout times out and the next command on the same executor works', async () => {
    const exec = executor();
    const pidFile = join(sshd.dir, `sleep-${randomUUID()}.pid`);
    const started = Date.now();
    const r = await run(exec, `echo $$ > ${shellQuote(pidFile)}; exec sleep 30`, 500);
    const elapsed = Date.now() - started;
    strayPids.push(Number(await readFile(pidFile, 'utf8')));
    expect(r).toMatchObject({ ok: false, transport_ok: true, failure_kind: 'timeout' });
    expect(r.error).toMatch(/timed out after 500 ms/);
    // 500 ms timeout + at most the 1 s close grace (+ connect and scheduling slack).
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(3_500);
    expect(await run(exec, 'echo after')).toMatchObject({ ok: true, stdout: 'after\n' });
  });

  it('ssh executor - a silent peer fails the handshake as a transport failure', async () => {
    const peer = await startSilentPeer();
    try {
      const exec = executor(sshd.target({ port: peer.port, handshakeTimeoutMs: 1_000 }));
      const started = Date.now();
      const r = await run(exec, 'echo never');
      expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport', stdout: '' });
      expect(r.error).toMatch(/handshake/i);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(peer.accepted()).toBe(1);
    } finally {
      await peer.stop();
    }
  });

  it('ssh executor - a refused connection is a transport failure', async () => {
    const r = await run(executor(sshd.target({ port: await closedPort() })), 'echo never');
    expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport' });
    expect(r.error).toMatch(/ECONNREFUSED/);
  });

  it('ssh executor - a key the host does not accept is a transport failure', async () => {
    const r = await run(executor(sshd.target({ privateKey: sshd.unauthorizedKey })), 'echo never');
    expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport' });
    expect(r.error).toMatch(/authentication/i);
  });

  it('ssh executor - a key that cannot be parsed is a transport failure, not a throw', async () => {
    const r = await run(executor(sshd.target({ privateKey: 'not a key' })), 'echo never');
    expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport' });
    expect(r.error).toMatch(/privateKey|key/i);
  });

  it('ssh executor - a connection dropped mid-command is a transport failure, not success, and the next run reconnects', async () => {
    const exec = executor();
    const before = await run(exec, 'echo $SSH_CONNECTION');
    const logins = sshd.acceptedLogins();
    // Kills the session's sshd process: ssh2 then closes the channel with no exit status, no error.
    const r = await run(exec, 'kill -9 $PPID');
    expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport' });
    expect(r.exit_code).toBeUndefined();
    expect(r.error).toMatch(/connection lost before the command exited/);
    const after = await run(exec, 'echo $SSH_CONNECTION');
    expect(after.ok).toBe(true);
    expect(after.stdout).not.toBe(before.stdout);
    expect(sshd.acceptedLogins()).toBe(logins + 1);
  });

  it('ssh executor - a peer that stops answering fails on keepalive as a transport failure, and the next run reconnects', async () => {
    const exec = executor(sshd.target({ keepaliveIntervalMs: 250, keepaliveCountMax: 2 }));
    const session = await run(exec, 'echo $PPID');
    const sessionPid = Number(session.stdout.trim());
    strayPids.push(sessionPid);
    process.kill(sessionPid, 'SIGSTOP');
    const r = await run(exec, 'echo never', 20_000);
    process.kill(sessionPid, 'SIGKILL');
    expect(r).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport' });
    expect(r.error).toMatch(/keepalive/i);
    expect(await run(exec, 'echo back')).toMatchObject({ ok: true, stdout: 'back\n' });
  });

  it('ssh executor - hostile strings round-trip exactly', async () => {
    const exec = executor();
    const fixed = ["it's", '"double" \'single\'', '$(touch /tmp/pwned)', '`id`', 'a\nb\r\nc\t', '\\\\n \\x41', '${HOME} $0 $$ !!', 'ünïcødé 中文 🙂 \u202e', "'\\''", '-n', '%s %d %%'];
    const results = await Promise.all(fixed.map((s) => run(exec, `printf '%s' ${shellQuote(s)}`)));
    expect(results.map((r) => r.stdout)).toEqual(fixed);
    // A fixed-seed sample of arbitrary text (the broad property runs locally in test/unit/probes/quote.test.ts).
    const sample = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 16, seed: 20_251_021 }).map((s) => s.replaceAll('\0', ''));
    const sampled = await Promise.all(sample.map((s) => run(exec, `printf '%s' ${shellQuote(s)}`)));
    expect(sampled.map((r) => r.stdout)).toEqual(sample);
  });

  it('ssh executor - one connection is reused across commands, also when runs start together', async () => {
    const logins = sshd.acceptedLogins();
    const exec = executor();
    const together = await Promise.all([1, 2, 3].map(() => run(exec, 'echo $SSH_CONNECTION')));
    const sequential = [await run(exec, 'echo $SSH_CONNECTION'), await run(exec, 'echo $SSH_CONNECTION')];
    const sources = new Set([...together, ...sequential].map((r) => r.stdout));
    expect(sources.size).toBe(1);
    expect(sshd.acceptedLogins()).toBe(logins + 1);
  });

  it('ssh executor - bounds captured output to the tail', async () => {
    const r = await run(executor(sshd.target(), quiet, { maxOutputBytes: 1024 }), "head -c 100000 /dev/zero | tr '\\0' a; echo END; head -c 5000 /dev/zero | tr '\\0' e >&2");
    expect(r.ok).toBe(true);
    expect(r.stdout).toHaveLength(1024);
    expect(r.stdout.endsWith('aaaEND\n')).toBe(true);
    expect(r.stderr).toBe('e'.repeat(1024));
  });

  it('ssh executor - logs the exact invocation at debug level with the key path redacted and never the key', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const target = sshd.target();
    const command = "printf '%s\\n' \"it's\"";
    await run(executor(target, logger), command);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; invocation?: string; ssh?: { key_path?: string } });
    const start = logged.find((l) => l.msg === 'probe run');
    expect(start?.invocation).toBe(bashInvocation(command));
    expect(start?.ssh?.key_path).toBe('[redacted]');
    const all = lines.join('');
    expect(all).not.toContain(target.keyPath);
    expect(all).not.toContain('PRIVATE KEY');
    expect(all).not.toContain(String(target.privateKey).split('\n')[1]);
  });

  it('ssh executor - close ends the connection and later runs fail as transport failures', async () => {
    const exec = executor();
    const first = await run(exec, 'echo $PPID');
    const sessionPid = Number(first.stdout.trim());
    await exec.close();
    await sessionEnded(sessionPid);
    expect(await run(exec, 'echo never')).toMatchObject({ ok: false, transport_ok: false, failure_kind: 'transport', error: 'executor closed' });
  });

  it('ssh executor - disconnect ends the session but the next run connects again', async () => {
    const exec = executor();
    const first = await run(exec, 'echo $PPID');
    const sessionPid = Number(first.stdout.trim());
    const logins = sshd.acceptedLogins();
    await exec.disconnect();
    await sessionEnded(sessionPid);
    const again = await run(exec, 'echo back');
    expect(again).toMatchObject({ ok: true, stdout: 'back\n' });
    expect(sshd.acceptedLogins()).toBe(logins + 1);
  });
});
