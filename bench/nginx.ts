/**
 * nginx as a plain streaming reverse proxy for the relay benchmark: installs the Debian package
 * when missing, writes a config into a work dir, and runs nginx in the foreground as a child
 * process group on a random loopback port. Also the small process helpers the relay suite shares.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { childPids, processName } from './procstat.js';

const execFileP = promisify(execFile);

/** Where Debian puts the binary. */
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx'];

/** A free TCP port on 127.0.0.1 (bound and released, so a race is possible but unlikely). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr !== null && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`process exited before port ${port} accepted connections`);
    if (Date.now() > deadline) throw new Error(`port ${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Stops a child started with `detached: true` (its own process group): SIGTERM to the group,
 * SIGKILL after `graceMs`. Resolves once the child has exited.
 */
export async function stopProcessGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  const waitExit = exited ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone already
    }
  };
  signalGroup('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signalGroup('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([waitExit, killed]);
  clearTimeout(timer);
  await Promise.race([waitExit, new Promise((r) => setTimeout(r, 2_000))]);
  // Anything left in the group (e.g. grandchildren that ignored SIGTERM) goes too.
  signalGroup('SIGKILL');
}

function findNginx(): string | undefined {
  return NGINX_CANDIDATES.find((p) => existsSync(p));
}

function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The nginx binary, installing `nginx-light` (or `nginx`) from apt when it is missing. If the
 * package's maintainer script started the system service, that daemon is stopped again.
 */
export async function ensureNginx(log: (line: string) => void): Promise<string> {
  const found = findNginx();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) throw new Error('nginx is not installed and this is not root, so it cannot be installed');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const servicePidBefore = pidFromFile('/run/nginx.pid');
  const install = async (pkg: string): Promise<void> => {
    await execFileP('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env, maxBuffer: 16 * 1024 * 1024 });
  };
  let lastError: unknown;
  for (const attempt of ['install', 'update-then-install'] as const) {
    if (attempt === 'update-then-install') {
      log('relay: apt-get update');
      await execFileP('apt-get', ['update'], { env, maxBuffer: 16 * 1024 * 1024 }).catch((err: unknown) => (lastError = err));
    }
    for (const pkg of ['nginx-light', 'nginx']) {
      log(`relay: nginx missing, apt-get install -y ${pkg}`);
      try {
        await install(pkg);
        lastError = undefined;
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (findNginx() !== undefined) break;
  }
  // Debian's postinst may start the system service (port 80); stop what the install started.
  const servicePid = pidFromFile('/run/nginx.pid');
  if (servicePid !== undefined && servicePid !== servicePidBefore && processName(servicePid) === 'nginx') {
    log(`relay: stopping the nginx service the package started (pid ${servicePid})`);
    try {
      process.kill(servicePid, 'SIGQUIT');
    } catch {
      // already gone
    }
  }
  const bin = findNginx();
  if (bin === undefined) {
    const detail = lastError instanceof Error ? lastError.message.split('\n').slice(-3).join(' ') : String(lastError);
    throw new Error(`nginx is not installed and apt-get could not install it: ${detail}`);
  }
  return bin;
}

/** A running nginx. */
export interface NginxProxy {
  /** Origin of the proxy, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  /** The master process. */
  masterPid: number;
  /** Master and worker pids, read now. */
  pids(): number[];
  stop(): Promise<void>;
}

/** The config: a plain streaming reverse proxy to `upstreamPort` with a keepalive upstream pool. */
export function nginxConfig(dir: string, listenPort: number, upstreamPort: number, workers: number | 'auto'): string {
  const asRoot = process.getuid?.() === 0;
  return [
    asRoot ? 'user www-data;' : '',
    `worker_processes ${workers};`,
    'worker_rlimit_nofile 65536;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 16384; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'client_body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    '  keepalive_requests 1000000;',
    `  upstream engine { server 127.0.0.1:${upstreamPort}; keepalive 1024; keepalive_requests 1000000; }`,
    '  server {',
    `    listen 127.0.0.1:${listenPort};`,
    '    location / {',
    '      proxy_pass http://engine;',
    '      proxy_buffering off;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_read_timeout 300s;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Starts nginx (foreground, own process group) in `dir`, proxying to 127.0.0.1:`upstreamPort`. */
export async function startNginx(opts: { bin: string; dir: string; upstreamPort: number; workers?: number | 'auto' }): Promise<NginxProxy> {
  await mkdir(opts.dir, { recursive: true });
  const port = await freeLoopbackPort();
  const conf = join(opts.dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(opts.dir, port, opts.upstreamPort, opts.workers ?? 'auto'));
  const child = spawn(opts.bin, ['-p', opts.dir, '-c', conf, '-g', 'daemon off;'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const stop = (): Promise<void> => stopProcessGroup(child);
  try {
    await spawned;
    await waitForPort(port, 10_000, () => child.exitCode === null && child.signalCode === null);
  } catch (err) {
    await stop();
    let log = '';
    try {
      log = readFileSync(join(opts.dir, 'error.log'), 'utf8').slice(-1000);
    } catch {
      // no log
    }
    throw new Error(`nginx did not start: ${err instanceof Error ? err.message : String(err)} ${stderr.slice(-1000)} ${log}`.trim());
  }
  const masterPid = child.pid!;
  return {
    url: `http://127.0.0.1:${port}`,
    masterPid,
    pids: () => [masterPid, ...childPids(masterPid)],
    stop,
  };
}
