/**
 * A real OpenSSH sshd on loopback for the probe tests (stack.md §4): a temp dir with fresh ed25519
 * host and client keys, a config that accepts only that client key for the current user, and
 * `sshd -D -e` on a free port, ready once the port accepts a connection. Also a "silent TCP peer"
 * that accepts and never speaks, for handshake timeouts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SshTarget } from '../../src/probes/index.js';
import { waitFor } from './wait-for.js';

const SSHD = '/usr/sbin/sshd';
const OUTPUT_CAP = 64 * 1024;
const run = promisify(execFile);

/** A running test sshd. `stop()` kills it and removes its dir. */
export interface TestSshd {
  readonly port: number;
  /** The temp dir holding keys, config and authorized_keys. */
  readonly dir: string;
  /** The current user, with the authorized client key. */
  target(overrides?: Partial<SshTarget>): SshTarget;
  /** A valid ed25519 key that is not authorized (for auth failures). */
  readonly unauthorizedKey: string;
  /** sshd's stderr so far (capped, newest kept). */
  output(): string;
  /** How many logins sshd accepted so far (`Accepted publickey` lines). */
  acceptedLogins(): number;
  stop(): Promise<void>;
}

/** Options of the test sshd. */
export interface SshdOptions {
  /** Environment for every session (sshd `SetEnv`), e.g. a PATH with fake tools first. */
  setEnv?: Record<string, string>;
  /**
   * Give sessions an empty HOME in the temp dir (default true), so this machine's shell profile
   * (a `~/.bashrc` that bash sources for sshd sessions) neither slows nor changes the tests.
   */
  isolateHome?: boolean;
}

/** Starts sshd on 127.0.0.1 on a free port. Fails with a hint when openssh-server is missing. */
export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (\`make test\` installs it)`);
  const dir = await mkdtemp(join(tmpdir(), 'drover-test-sshd-'));
  try {
    await Promise.all([keygen(join(dir, 'host_ed25519')), keygen(join(dir, 'client_ed25519')), keygen(join(dir, 'other_ed25519'))]);
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_ed25519.pub')), { mode: 0o600 });
    // sshd refuses to start without its privilege-separation dir.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    await mkdir(join(dir, 'home'));
    const clientKey = await readFile(join(dir, 'client_ed25519'), 'utf8');
    const unauthorizedKey = await readFile(join(dir, 'other_ed25519'), 'utf8');
    const { child, port, output } = await launch(dir, opts);
    const user = userInfo().username;
    return {
      port,
      dir,
      unauthorizedKey,
      target: (overrides = {}) => ({
        host: '127.0.0.1',
        port,
        user,
        privateKey: clientKey,
        keyPath: join(dir, 'client_ed25519'),
        handshakeTimeoutMs: 5_000,
        ...overrides,
      }),
      output: () => output.text,
      acceptedLogins: () => output.text.split('\n').filter((l) => l.includes('Accepted publickey for')).length,
      stop: async () => {
        await kill(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A TCP server that accepts connections and never sends a byte (a host whose SSH never answers). */
export interface SilentPeer {
  readonly port: number;
  /** Connections accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

/** Starts a silent TCP peer on 127.0.0.1. */
export async function startSilentPeer(): Promise<SilentPeer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOnFreePort(server);
  return {
    port,
    accepted: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (bound, then released), for connection-refused tests. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnFreePort(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function keygen(path: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'drover-test', '-f', path]);
}

function sshdConfig(dir: string, port: number, opts: SshdOptions): string {
  const lines = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // Tests run as root; any other current user is allowed by default.
    'PermitRootLogin yes',
    'PrintMotd no',
    'LogLevel INFO',
  ];
  const env = Object.entries({ ...(opts.isolateHome === false ? {} : { HOME: join(dir, 'home') }), ...opts.setEnv });
  if (env.length > 0) lines.push(`SetEnv ${env.map(([k, v]) => `"${k}=${v}"`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

interface Launched {
  child: ChildProcess;
  port: number;
  output: { text: string };
}

// The free port is found by binding and releasing it, so another process can take it before sshd
// binds; sshd then exits at once and we try a fresh port (a launcher concern, not a test retry).
async function launch(dir: string, opts: SshdOptions): Promise<Launched> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await closedPort();
    const config = join(dir, 'sshd_config');
    await writeFile(config, sshdConfig(dir, port, opts));
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const output = { text: '' };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      output.text = (output.text + s).slice(-OUTPUT_CAP);
    });
    let exited = false;
    child.on('exit', () => (exited = true));
    try {
      await waitFor(`sshd listening on 127.0.0.1:${port}`, async () => exited || (await accepts(port)), 10_000);
    } catch (err) {
      await kill(child);
      throw new Error(`sshd did not start: ${String(err)}\n${output.text}`);
    }
    if (!exited) return { child, port, output };
    lastError = output.text;
  }
  throw new Error(`sshd exited at start-up three times:\n${lastError}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function listenOnFreePort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') reject(new Error('no TCP address'));
      else resolve(addr.port);
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
