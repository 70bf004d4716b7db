/**
 * The SSH side of a simulated host: an ssh2 server on 127.0.0.1 that accepts user `root` with the
 * instance's authorized keys and runs each `exec` request with the real `/bin/bash -c`, after two
 * rewrites that make host-local names mean this host (`/tmp` → `<hostRoot>/tmp`, container port
 * `127.0.0.1:8000`/`localhost:8000`/`0.0.0.0:8000` and `/dev/tcp/…/8000` → the host's public
 * engine port), with `<hostRoot>/bin` first on PATH (the shims) and HOME/TMPDIR/cwd inside the
 * host root. stdout, stderr, exit status and exit signal go back over the channel; a channel that
 * closes first kills the command's process group. This is a test simulator on loopback, not a
 * sandbox: a command can still touch any path bash can; only the host-local names are redirected.
 * Also here: the listener of `ssh_never`, which accepts TCP and never says a word.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2, { type Connection, type ParsedKey, type ServerChannel } from 'ssh2';
import { generateSshKeyPair } from '../probes/index.js';

/** Where a host's commands run. */
export interface SshExecContext {
  tmpDir: string;
  homeDir: string;
  binDir: string;
  /** Public port the container's engine port 8000 maps to. */
  enginePort: number;
  /** The instance's environment (`SimHostSpec.env`); names that are not shell names are skipped. */
  env: Readonly<Record<string, string>>;
  /** A start-up file every command's shell sources first (profile `broken_shell`). */
  bashEnv?: string;
}

/** A listener on the host's SSH port. */
export interface SshListener {
  /** Ends every connection, kills every command still running and stops listening. */
  close(): Promise<void>;
}

const CONTAINER_ENGINE_PORT = 8000;
let sharedHostKey: string | undefined;

/** One ed25519 host key per process, generated on first use (hosts differ by port, not by key). */
function hostKey(): string {
  sharedHostKey ??= generateSshKeyPair().private;
  return sharedHostKey;
}

/** Rewrites host-local paths and the container engine port of a command to this host's. */
export function rewriteCommand(command: string, tmpDir: string, enginePort: number): string {
  const port = String(CONTAINER_ENGINE_PORT);
  return command
    .replace(/(?<![\w.~/$})-])\/tmp(?![\w.-])/g, tmpDir)
    .replace(new RegExp(`\\b(?:127\\.0\\.0\\.1|localhost|0\\.0\\.0\\.0):${port}(?!\\d)`, 'g'), `127.0.0.1:${enginePort}`)
    .replace(new RegExp(`/dev/tcp/(?:127\\.0\\.0\\.1|localhost)/${port}(?!\\d)`, 'g'), `/dev/tcp/127.0.0.1/${enginePort}`);
}

/** The environment of a host's commands: a clean login-like set plus the instance's env. */
export function commandEnv(ctx: SshExecContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: `${ctx.binDir}:${process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin'}`,
    HOME: ctx.homeDir,
    TMPDIR: ctx.tmpDir,
    USER: 'root',
    LOGNAME: 'root',
    SHELL: '/bin/bash',
    LANG: 'C.UTF-8',
  };
  for (const [name, value] of Object.entries(ctx.env)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && name !== 'PATH') env[name] = value;
  }
  return env;
}

/** Listens for SSH on 127.0.0.1:`port`, accepting `root` with one of `authorizedKeys`. */
export async function listenSsh(port: number, authorizedKeys: readonly string[], ctx: SshExecContext): Promise<SshListener> {
  const allowed = authorizedKeys.map((k) => ssh2.utils.parseKey(k)).filter((k): k is ParsedKey => !(k instanceof Error));
  const clients = new Set<Connection>();
  const children = new Set<ChildProcess>();
  const server = new ssh2.Server({ hostKeys: [hostKey()], ident: 'OpenSSH_9.6p1 Ubuntu-3ubuntu13.5' }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (auth) => {
      if (auth.method !== 'publickey' || auth.username !== 'root') return auth.reject(['publickey']);
      const key = allowed.find((k) => k.getPublicSSH().equals(auth.key.data));
      if (key === undefined) return auth.reject(['publickey']);
      if (auth.signature !== undefined && auth.blob !== undefined && !key.verify(auth.blob, auth.signature, auth.hashAlgo)) {
        return auth.reject(['publickey']);
      }
      auth.accept();
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let child: ChildProcess | undefined;
        session.on('pty', (accept) => accept?.());
        session.on('env', (_accept, reject) => reject?.());
        session.on('shell', (_accept, reject) => reject());
        session.on('subsystem', (_accept, reject) => reject());
        session.on('signal', (accept, _reject, info) => {
          accept?.();
          if (child !== undefined) killGroup(child, `SIG${info.name.replace(/^SIG/, '')}`);
        });
        session.on('exec', (accept, _reject, info) => {
          const channel = accept();
          child = runCommand(channel, rewriteCommand(info.command, ctx.tmpDir, ctx.enginePort), ctx);
          children.add(child);
          child.once('close', () => children.delete(child as ChildProcess));
        });
      });
    });
  });
  await listen(server, port);
  return {
    async close(): Promise<void> {
      for (const child of children) killGroup(child, 'SIGKILL');
      for (const client of clients) client.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Listens on 127.0.0.1:`port`, accepts TCP connections and never speaks (SSH never comes up). */
export async function listenSilent(port: number): Promise<SshListener> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, port);
  return {
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function runCommand(channel: ServerChannel, command: string, ctx: SshExecContext): ChildProcess {
  // bash spawned here does not honour BASH_ENV, so a broken shell start-up is sourced explicitly.
  const script = ctx.bashEnv === undefined ? command : `. '${ctx.bashEnv.replace(/'/g, `'\\''`)}'; ${command}`;
  const child = spawn('/bin/bash', ['-c', script], { cwd: ctx.homeDir, env: commandEnv(ctx), detached: true, stdio: 'pipe' });
  const channelClosed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  let done = false;
  void channelClosed.then(() => {
    if (!done) killGroup(child, 'SIGKILL');
  });
  child.stdin?.on('error', () => undefined);
  if (child.stdin !== null) channel.pipe(child.stdin);
  child.stdout?.pipe(channel, { end: false });
  child.stderr?.pipe(channel.stderr, { end: false });
  const finish = async (code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
    if (done) return;
    done = true;
    // Data first: exit-status is sent at once, so wait until what bash wrote has left.
    await Promise.race([flushed(channel), channelClosed]);
    if (signal !== null) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  };
  child.once('error', (err) => {
    channel.stderr.write(`bash: ${err.message}\n`);
    void finish(127, null);
  });
  child.once('close', (code, signal) => void finish(code, signal));
  return child;
}

/** Resolves once everything written to the channel's stdout and stderr has been handed to SSH. */
async function flushed(channel: ServerChannel): Promise<void> {
  await Promise.all([
    new Promise<void>((resolve) => channel.write(Buffer.alloc(0), () => resolve())),
    new Promise<void>((resolve) => channel.stderr.end(() => resolve())),
  ]);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals | string): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function listen(server: NetServer, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
