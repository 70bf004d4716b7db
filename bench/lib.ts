/**
 * Helpers shared by the benchmark suites: child processes that are always cleaned up (`drover up`,
 * `drover sim`, load generators), /proc readings (RSS, CPU time), percentiles and a seeded PRNG.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A child process started by a suite, with everything it printed. */
export interface BenchChild {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr, capped to the last 64 KB). */
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Kills every child still running (exit hook of the runner; safe to call twice). */
export function killAllChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
}

/** Spawns a child whose output is collected and which is killed when this process exits. */
export function spawnChild(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string> }): BenchChild {
  if (!hooked) {
    hooked = true;
    process.once('exit', killAllChildren);
  }
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const append = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? -1);
    });
    child.once('error', (err) => {
      live.delete(child);
      append(Buffer.from(String(err)));
      resolve(-1);
    });
  });
  return {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves with the first match of `re` in the child's output (group 1 or the whole match). */
export async function waitForOutput(c: BenchChild, re: RegExp, timeoutMs: number, what: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void c.exited.then(() => (exited = true));
  for (;;) {
    const m = re.exec(c.output());
    if (m !== null) return m[1] ?? m[0];
    if (exited) throw new Error(`${what} exited (${String(await c.exited)}) before it was ready: ${tail(c.output())}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${tail(c.output())}`);
    await sleep(25);
  }
}

/** The last lines of a process's output, for error rows. */
export function tail(s: string, lines = 8): string {
  return s.trim().split('\n').slice(-lines).join(' | ').slice(-1_500);
}

/** A running `bin/drover up`. */
export interface DroverChild extends BenchChild {
  httpUrl: string;
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Writes a config file into `dataDir` and starts `bin/drover up --config FILE` on a free port,
 * until `/readyz` answers (the ready line is an info log, silent at `log_level: warn`).
 */
export async function startDrover(root: string, dataDir: string, config: Record<string, unknown>, env: Record<string, string> = {}): Promise<DroverChild> {
  const file = join(dataDir, 'drover.json');
  const port = await freePort();
  const httpUrl = `http://127.0.0.1:${port}`;
  await writeFile(file, JSON.stringify({ data_dir: dataDir, http: { host: '127.0.0.1', port }, nats: { port: -1, config_file: null }, ...config }));
  const c = spawnChild(join(root, 'bin/drover'), ['up', '--config', file], { cwd: root, env });
  const deadline = Date.now() + 60_000;
  let exited = false;
  void c.exited.then(() => (exited = true));
  for (;;) {
    const ok = await fetch(`${httpUrl}/healthz`).then((r) => r.ok, () => false);
    if (ok) return { ...c, httpUrl };
    if (exited || Date.now() > deadline) {
      await c.stop(2_000);
      throw new Error(`drover up ${exited ? `exited (${String(await c.exited)})` : 'not answering /healthz after 60 s'}: ${tail(c.output())}`);
    }
    await sleep(100);
  }
}

/** CPU time (user + system, in seconds) and resident memory (bytes) of a process, from /proc. */
export async function procUsage(pid: number): Promise<{ cpuS: number; rssBytes: number }> {
  const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
  // Fields after the command name (which may contain spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return { cpuS: ticks / CLK_TCK, rssBytes: rssKb * 1024 };
}

/** Linux USER_HZ: 100 on every architecture Node supports. */
const CLK_TCK = 100;

/** Direct children of a process (from /proc/<pid>/task/<pid>/children). */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The command name of a process (`/proc/<pid>/comm`). */
export async function procName(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** Half the spread (max − min) of repeated measurements: the ± tolerance of the STYLE guide. */
export function halfSpread(values: readonly number[]): number {
  return values.length < 2 ? 0 : (Math.max(...values) - Math.min(...values)) / 2;
}

/** mulberry32: a small seeded PRNG in [0, 1), so that every run sees the same replica sets. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An integer knob from the environment, else the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Rounds to `digits` significant decimals for display and JSON. */
export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
