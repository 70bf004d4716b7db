/**
 * The embedded nats-server: Drover spawns the Debian `nats-server` binary itself when no
 * `DROVER_NATS_URL` is given (`drover up`), and the tests use the same launcher. This module owns
 * the child process: finding the binary, choosing the port (`-p -1` + `--ports_file_dir`, the way
 * nats.js's own test launcher learns a random port), waiting until it accepts TCP, keeping a capped
 * tail of its log for diagnostics, and stopping it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import type { EmbeddedNats } from './types.js';

/** The message of the error thrown when no nats-server binary can be found. */
export const NATS_SERVER_MISSING_MESSAGE =
  "nats-server is not installed: run 'sudo apt-get install -y nats-server' (or 'make deps'), or set DROVER_NATS_URL to use an existing server";

/** How long start-up may take before it is declared failed. */
const START_TIMEOUT_MS = 10_000;
/** Grace period between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** Lines of server output kept for `output()`. */
const OUTPUT_LINES = 200;
/** Where Debian and friends put the binary; /usr/sbin is often missing from a user's PATH. */
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin', '/sbin', '/bin'];

/** Options of {@link startEmbeddedNats}. */
export interface EmbeddedNatsOptions {
  /** nats-server config file (`-c`); flags given here override what it says. */
  configFile?: string;
  /** JetStream store directory (`-sd`); the caller owns it (never removed here). */
  storeDir: string;
  /** Client port; -1 picks a random free port; default: the config's (or 4222 without config). */
  port?: number;
  /** Bind address (`-a`); default: the config's (or 127.0.0.1 without config). */
  host?: string;
  /** HTTP monitoring port (`-m`); -1 picks a random one. Default: the config's (none without config). */
  httpPort?: number;
  /** Path of the nats-server binary; default: `nats-server` on PATH, then /usr/sbin and friends. */
  binary?: string;
  /** Receives start/stop/exit lines; the server's own log stays in `output()`. */
  logger?: Logger;
}

/** Resolves the nats-server binary, or throws the install hint. */
export async function findNatsServer(binary?: string): Promise<string> {
  const candidates =
    binary !== undefined
      ? [binary]
      : [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_BIN_DIRS].map((d) =>
          join(d, 'nats-server'),
        );
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  throw new Error(NATS_SERVER_MISSING_MESSAGE);
}

/** A ring of the last lines a process wrote. */
class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly cap: number) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      if (this.lines.length > this.cap) this.lines.shift();
    }
  }

  text(): string {
    return [...this.lines, ...(this.partial === '' ? [] : [this.partial])].join('\n');
  }
}

/** Where clients reach the server. */
interface Endpoint {
  host: string;
  port: number;
}

/** One running server process with the address it reported. */
interface RunningProcess {
  child: ChildProcess;
  exited: Promise<void>;
  portsDir: string;
}

class EmbeddedNatsServer implements EmbeddedNats {
  private running: RunningProcess | undefined;
  private readonly tail = new OutputTail(OUTPUT_LINES);
  private endpoint: Endpoint = { host: '127.0.0.1', port: 0 };
  private stopping = false;

  constructor(
    private readonly binary: string,
    private readonly opts: EmbeddedNatsOptions,
  ) {}

  get port(): number {
    return this.endpoint.port;
  }

  get url(): string {
    return `nats://${this.endpoint.host.includes(':') ? `[${this.endpoint.host}]` : this.endpoint.host}:${this.endpoint.port}`;
  }

  get storeDir(): string {
    return this.opts.storeDir;
  }

  output(): string {
    return this.tail.text();
  }

  async start(port: number | undefined): Promise<void> {
    await mkdir(this.opts.storeDir, { recursive: true });
    const pidFile = join(this.opts.storeDir, PID_FILE);
    await reapStaleServer(pidFile, this.opts.storeDir, this.opts.logger);
    const portsDir = await mkdtemp(join(tmpdir(), 'drover-nats-ports-'));
    const args = ['-js', '-sd', this.opts.storeDir, '--ports_file_dir', portsDir, '-P', pidFile];
    if (this.opts.configFile !== undefined) args.unshift('-c', this.opts.configFile);
    const host = this.opts.host ?? (this.opts.configFile === undefined ? '127.0.0.1' : undefined);
    if (host !== undefined) args.push('-a', host);
    if (port !== undefined) args.push('-p', String(port));
    if (this.opts.httpPort !== undefined) args.push('-m', String(this.opts.httpPort));

    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => this.tail.push(c));
    child.stderr?.on('data', (c: Buffer) => this.tail.push(c));
    let exitInfo: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        exitInfo = `failed to spawn ${this.binary}: ${err.message}`;
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${String(code)}`}`;
        resolve();
      });
    });
    // If this process exits without stopping the server, take it along: an orphan would keep the port.
    const onParentExit = (): void => {
      child.kill('SIGTERM');
      rmSync(portsDir, { recursive: true, force: true });
    };
    const proc: RunningProcess = { child, exited, portsDir };
    process.once('exit', onParentExit);
    void exited.then(() => process.removeListener('exit', onParentExit));

    let endpoint: Endpoint;
    try {
      endpoint = await this.awaitReady(proc, () => exitInfo, [this.binary, ...args].join(' '));
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      await rm(portsDir, { recursive: true, force: true });
      throw err;
    }
    this.running = proc;
    this.endpoint = endpoint;
    this.stopping = false;
    void exited.then(() => {
      if (!this.stopping && this.running === proc) {
        this.opts.logger?.error({ pid: child.pid, output: this.tail.text() }, `nats-server ${exitInfo ?? 'exited'} unexpectedly`);
      }
    });
    this.opts.logger?.info({ pid: child.pid, url: this.url, store_dir: this.opts.storeDir }, 'nats-server started');
  }

  /** Waits for the ports file, then for a TCP connect; fails if the process exits first. */
  private async awaitReady(proc: RunningProcess, exitInfo: () => string | undefined, command: string): Promise<Endpoint> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exited = false;
    void proc.exited.then(() => {
      exited = true;
    });
    const fail = (why: string): Error =>
      new Error(`nats-server ${why}\ncommand: ${command}\n--- nats-server output ---\n${this.tail.text()}`);
    let endpoint: Endpoint | undefined;
    for (let attempt = 0; ; attempt++) {
      if (exited) throw fail(`${exitInfo() ?? 'exited'} before it was ready`);
      if (Date.now() > deadline) throw fail(`did not become ready within ${START_TIMEOUT_MS} ms`);
      endpoint ??= await readPortsFile(proc.portsDir);
      if (endpoint !== undefined && (await canConnect(endpoint.host, endpoint.port))) return endpoint;
      // Start-up takes ~10 ms; poll fast at first, then back off a little.
      await Promise.race([proc.exited, new Promise((r) => setTimeout(r, Math.min(5 * (attempt + 1), 50)))]);
    }
  }

  async stop(): Promise<void> {
    const proc = this.running;
    if (proc === undefined) return;
    this.stopping = true;
    this.running = undefined;
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.opts.logger?.warn({ pid: proc.child.pid }, `nats-server ignored SIGTERM for ${STOP_GRACE_MS} ms; sending SIGKILL`);
          proc.child.kill('SIGKILL');
          resolve();
        }, STOP_GRACE_MS);
      });
      await Promise.race([proc.exited, killed]);
      clearTimeout(timer);
      await proc.exited;
    }
    await rm(proc.portsDir, { recursive: true, force: true });
    this.opts.logger?.info({ pid: proc.child.pid }, 'nats-server stopped');
  }

  async restart(): Promise<void> {
    const port = this.endpoint.port;
    await this.stop();
    await this.start(port);
  }
}

/**
 * Reads the client address from the ports file nats-server writes (`{"nats":["nats://h:p",…],…}`);
 * a server bound to every interface lists them all, and loopback is preferred.
 */
async function readPortsFile(dir: string): Promise<Endpoint | undefined> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.ports'));
  const name = names[0];
  if (name === undefined) return undefined;
  try {
    const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as { nats?: unknown };
    const urls = (Array.isArray(parsed.nats) ? (parsed.nats as unknown[]) : [])
      .filter((u): u is string => typeof u === 'string')
      .map((u) => new URL(u));
    const url = urls.find((u) => u.hostname === '127.0.0.1' || u.hostname === 'localhost') ?? urls[0];
    if (url === undefined) return undefined;
    const port = Number(url.port);
    if (!Number.isInteger(port) || port <= 0) return undefined;
    const host = url.hostname === '0.0.0.0' || url.hostname === '[::]' ? '127.0.0.1' : url.hostname;
    return { host, port };
  } catch {
    return undefined; // written but not complete yet
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** The server's pid file, inside its store dir. */
export const PID_FILE = 'nats-server.pid';

/**
 * A server left running on this store by a parent that died without stopping it (SIGKILL) would
 * hold the port and write the same JetStream files. Stop it first — but only if /proc confirms the
 * pid is still a nats-server on this very store dir.
 */
async function reapStaleServer(pidFile: string, storeDir: string, logger: Logger | undefined): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return; // not running (or no /proc): nothing to reap
  }
  if (!cmdline.includes('nats-server') || !cmdline.includes(storeDir)) return;
  logger?.warn({ pid, store_dir: storeDir }, 'stopping a nats-server left running on this store by an earlier process');
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(); i += 1) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 40 && alive(); i += 1) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Spawns nats-server with JetStream and waits until it accepts connections. Throws with the
 * server's output if it exits first or is not ready within 10 s, and with an install hint
 * ({@link NATS_SERVER_MISSING_MESSAGE}) if the binary is missing.
 */
export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const binary = await findNatsServer(opts.binary);
  const server = new EmbeddedNatsServer(binary, opts);
  await server.start(opts.port);
  return server;
}
