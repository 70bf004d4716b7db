/**
 * Suite `relay` (issue "Stream relay"): the same simulated vLLM engine reached three ways —
 * `direct` (`POST /v1/completions` streamed from the engine), through `nginx` as a plain streaming
 * reverse proxy, and through `drover` (`POST /v2/tasks` with `Accept: text/event-stream`, one
 * request like the other two: HTTP → NATS → TaskActor → engine and back) — under closed-loop
 * streaming load from a separate load-generator process (`bench/loadgen.ts`), at full engine speed
 * and at 50 tokens/s per stream.
 *
 * Every contender is its own process so its CPU can be read from `/proc`: the engine
 * (`bench/engine-server.ts`), nginx (master + workers), and `bin/drover up` (node + its embedded
 * nats-server). By default Drover's static pool points at the very engine process direct and nginx
 * use, so Drover's CPU is the relay's alone; `BENCH_RELAY_DROVER_ENGINE=embedded` runs Drover's
 * in-process `sim` engine instead (identically configured; its CPU then counts as Drover's).
 *
 * Before the cells of a rate, every contender gets one unrecorded warm-up run (up to 128 streams,
 * `BENCH_RELAY_WARMUP_SECONDS`, 8 s; none in quick mode): Drover is a fresh node process per rate,
 * and until V8 has compiled its hot paths it costs about a quarter more CPU per token and several
 * ms more time to first token.
 *
 * Knobs: `BENCH_RELAY_SECONDS` (seconds per cell, warm-up included), `BENCH_RELAY_STREAMS`
 * (comma-separated concurrency levels, both rates), `BENCH_RELAY_DROVER_ENGINE`, and
 * `BENCH_RELAY_DROVER_API=two-step` for the 202 then `GET /v2/tasks/:id/events` flow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BenchOptions, BenchRow, BenchSuite } from './types.js';
import type { LoadgenArgs, LoadgenResult } from './loadgen.js';
import { ensureNginx, freeLoopbackPort, startNginx, stopProcessGroup, waitForPort, type NginxProxy } from './nginx.js';
import { childPids, cpuDelta, processName, snapshot } from './procstat.js';

const SUITE = 'relay';
const MODEL = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';
const MAX_NUM_SEQS = 1024;
const ENGINE_TTFT_MS = 0;

interface Rate {
  /** Label in the workload name. */
  label: string;
  tokensPerSec: number;
  maxTokens: number;
}

const MAX_RATE: Rate = { label: 'max rate', tokensPerSec: 0, maxTokens: 64 };
const REAL_RATE: Rate = { label: '50 tok/s', tokensPerSec: 50, maxTokens: 32 };

type ContenderName = 'direct' | 'nginx' | 'drover';

interface Contender {
  name: ContenderName;
  mode: LoadgenArgs['mode'];
  url: string;
  /** Processes charged with this contender's CPU, by label. */
  cpuPids(): Map<string, number>;
}

interface CellResult {
  result: LoadgenResult;
  /** CPU seconds per charged process over the load. */
  cpu: Map<string, number>;
  /** CPU seconds the engine spent over the load. */
  engineCpu: number;
  /** CPU seconds the load generator spent (it shares the machine with what it measures). */
  loadgenCpu: number;
}

/** Children alive right now, killed on an abrupt exit of the runner. */
const live = new Set<ChildProcess>();
function killLiveOnExit(): void {
  for (const child of live) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function workloadName(streams: number, rate: Rate): string {
  return `${streams} stream${streams === 1 ? '' : 's'}, ${rate.label}, ${rate.maxTokens} tok/req`;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Spawns `node --import tsx <script> <json>` in its own process group and waits for its first JSON line. */
async function spawnTsx(root: string, script: string, arg: unknown, timeoutMs: number): Promise<{ child: ChildProcess; first: Record<string, unknown>; lines: AsyncIterator<string>; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, script), JSON.stringify(arg)], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await withTimeout(nextJsonLine(lines), timeoutMs, `${script} printed nothing within ${timeoutMs} ms`).catch(async (e: unknown) => {
    await stopProcessGroup(child, 1_000);
    throw new Error(`${errMessage(e)}; stderr: ${err.slice(-1500)}`);
  });
  return { child, first, lines, stderr: () => err };
}

async function nextJsonLine(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  for (;;) {
    const next = await lines.next();
    if (next.done === true) throw new Error('process ended its output');
    const line = next.value.trim();
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // not JSON after all
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A simulated engine in its own process. */
interface EngineProc {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startEngine(root: string, rate: Rate): Promise<EngineProc> {
  const { child, first } = await spawnTsx(
    root,
    'bench/engine-server.ts',
    { model: MODEL, tokensPerSec: rate.tokensPerSec, ttftMs: ENGINE_TTFT_MS, maxNumSeqs: MAX_NUM_SEQS },
    30_000,
  );
  const url = String(first.url);
  return { url, port: Number(new URL(url).port), pid: child.pid!, stop: () => stopProcessGroup(child) };
}

/** `bin/drover up` in its own process group. */
interface DroverProc {
  url: string;
  pid: number;
  natsPid(): number | undefined;
  stop(): Promise<void>;
}

async function startDroverProc(opts: BenchOptions, dir: string, rate: Rate, engine: EngineProc, embedded: boolean): Promise<DroverProc> {
  await mkdir(dir, { recursive: true });
  // The ready line is logged at info; with log_level warn the port is chosen here and polled.
  const port = await freeLoopbackPort();
  const config = {
    data_dir: join(dir, 'data'),
    http: { host: '127.0.0.1', port },
    nats: { port: -1, config_file: null },
    log_level: 'warn',
    admission: { capacity: 4096 },
    ...(embedded
      ? { pools: [], sim: { engines: 1, model: MODEL, ttft_ms: ENGINE_TTFT_MS, tokens_per_s: rate.tokensPerSec, max_num_seqs: MAX_NUM_SEQS } }
      : {
          sim: null,
          pools: [{ kind: 'static', id: 'sim', model: MODEL, engine: 'vllm', slots_per_replica: MAX_NUM_SEQS, replicas: [{ id: 'sim-0', url: engine.url }] }],
        }),
  };
  const file = join(dir, 'drover.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  const child = spawn(join(opts.root, 'bin/drover'), ['up', '--config', file], {
    cwd: opts.root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 20_000) out = out.slice(-10_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = (): Promise<void> => stopProcessGroup(child, 10_000);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(port, 60_000, alive);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!alive()) throw new Error('drover exited');
      const ready = await fetch(`${url}/v2/pools`)
        .then(async (r) => (r.ok ? ((await r.json()) as { pools: Array<{ pool_id: string; replicas: Array<{ health: string }> }> }) : undefined))
        .then((b) => b?.pools.some((p) => p.pool_id === 'sim' && p.replicas.length > 0 && p.replicas.every((r) => r.health === 'ready')) === true)
        .catch(() => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error('pool sim not ready within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw new Error(`drover did not start: ${errMessage(err)}: ${out.slice(-2000)}`);
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    natsPid: () => childPids(pid).find((p) => processName(p) === 'nats-server'),
    stop,
  };
}

/** Runs one load-generator process against a contender and charges it with the CPU it used. */
async function runCell(opts: BenchOptions, contender: Contender, engine: EngineProc, streams: number, rate: Rate, warmupMs: number, durationMs: number): Promise<CellResult> {
  const args: LoadgenArgs = { mode: contender.mode, url: contender.url, model: MODEL, concurrency: streams, durationMs, warmupMs, maxTokens: rate.maxTokens };
  const pids = contender.cpuPids();
  pids.set('__engine', engine.pid);
  const { child, first, lines, stderr } = await spawnTsx(opts.root, 'bench/loadgen.ts', args, 30_000);
  pids.set('__loadgen', child.pid!);
  try {
    if (first.phase !== 'start') throw new Error(`loadgen: unexpected first line ${JSON.stringify(first)}`);
    const before = snapshot(pids);
    const result = (await withTimeout(nextJsonLine(lines), warmupMs + durationMs + 120_000, 'loadgen did not finish in time').catch((e: unknown) => {
      throw new Error(`${errMessage(e)}; stderr: ${stderr().slice(-1500)}`);
    })) as unknown as LoadgenResult;
    const after = snapshot(pids);
    const cpu = cpuDelta(before, after);
    const engineCpu = cpu.get('__engine') ?? 0;
    const loadgenCpu = cpu.get('__loadgen') ?? 0;
    cpu.delete('__engine');
    cpu.delete('__loadgen');
    return { result, cpu, engineCpu, loadgenCpu };
  } finally {
    await stopProcessGroup(child, 2_000);
  }
}

function fmt(n: number): string {
  return Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : String(n);
}

/** The suite; see the module comment. */
export const relaySuite: BenchSuite = async (opts) => {
  const rows: BenchRow[] = [];
  const base = { suite: SUITE };
  const errorRow = (workload: string, contender: string, metric: string, error: string): void => {
    rows.push({ ...base, workload, contender, metric, value: Number.NaN, unit: '', samples: 0, error });
  };
  const cellSeconds = Number(process.env.BENCH_RELAY_SECONDS ?? (opts.quick ? 4 : 10));
  const warmupMs = Math.min(1_000, Math.round(cellSeconds * 200));
  const durationMs = Math.max(500, Math.round(cellSeconds * 1000) - warmupMs);
  // Quick mode skips it to stay under two minutes; its figures are the colder for it.
  const warmSeconds = Number(process.env.BENCH_RELAY_WARMUP_SECONDS ?? (opts.quick ? 0 : 8));
  const embedded = process.env.BENCH_RELAY_DROVER_ENGINE === 'embedded';
  const twoStep = process.env.BENCH_RELAY_DROVER_API === 'two-step';
  const streamsEnv = process.env.BENCH_RELAY_STREAMS?.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const plan: Array<{ rate: Rate; streams: number[] }> =
    streamsEnv !== undefined && streamsEnv.length > 0
      ? [{ rate: MAX_RATE, streams: streamsEnv }, { rate: REAL_RATE, streams: streamsEnv }]
      : opts.quick
        ? [{ rate: MAX_RATE, streams: [1, 32, 128] }, { rate: REAL_RATE, streams: [128] }]
        : [{ rate: MAX_RATE, streams: [1, 32, 128, 512] }, { rate: REAL_RATE, streams: [1, 32, 128, 512] }];
  const results = new Map<string, CellResult>();
  const key = (workload: string, contender: ContenderName): string => `${workload}\u0000${contender}`;
  const dir = join(opts.workDir, 'relay');
  process.on('exit', killLiveOnExit);
  opts.log(`relay: ${warmSeconds} s warm-up run per contender and rate, ${cellSeconds} s per cell (${warmupMs} ms of it unrecorded), drover engine ${embedded ? 'embedded sim' : 'shared engine process'}`);

  let nginxBin: string | undefined;
  let nginxError: string | undefined;
  try {
    nginxBin = await ensureNginx(opts.log);
  } catch (err) {
    nginxError = errMessage(err);
    opts.log(`relay: nginx unavailable: ${nginxError}`);
  }

  try {
    await mkdir(dir, { recursive: true });
    for (const { rate, streams: levels } of plan) {
      const rateDir = join(dir, rate.tokensPerSec === 0 ? 'max' : `${rate.tokensPerSec}tps`);
      let engine: EngineProc | undefined;
      let nginx: NginxProxy | undefined;
      let drover: DroverProc | undefined;
      const setupErrors = new Map<ContenderName, string>();
      try {
        try {
          engine = await startEngine(opts.root, rate);
        } catch (err) {
          for (const n of levels) errorRow(workloadName(n, rate), 'all', 'tokens/s', `engine did not start: ${errMessage(err)}`);
          continue;
        }
        const eng = engine;
        if (nginxBin === undefined) setupErrors.set('nginx', nginxError ?? 'nginx unavailable');
        else {
          try {
            nginx = await startNginx({ bin: nginxBin, dir: join(rateDir, 'nginx'), upstreamPort: eng.port });
          } catch (err) {
            setupErrors.set('nginx', errMessage(err));
          }
        }
        try {
          drover = await startDroverProc(opts, join(rateDir, 'drover'), rate, eng, embedded);
        } catch (err) {
          setupErrors.set('drover', errMessage(err));
        }
        const contenders: Contender[] = [{ name: 'direct', mode: 'openai', url: eng.url, cpuPids: () => new Map([['engine', eng.pid]]) }];
        if (nginx !== undefined) {
          const ngx = nginx;
          contenders.push({ name: 'nginx', mode: 'openai', url: ngx.url, cpuPids: () => new Map(ngx.pids().map((p, i) => [i === 0 ? 'master' : `worker-${i}`, p])) });
        }
        if (drover !== undefined) {
          const drv = drover;
          contenders.push({
            name: 'drover',
            mode: twoStep ? 'drover-two-step' : 'drover',
            url: drv.url,
            cpuPids: () => {
              const m = new Map([['node', drv.pid]]);
              const natsPid = drv.natsPid();
              if (natsPid !== undefined) m.set('nats-server', natsPid);
              return m;
            },
          });
        }
        // One unrecorded run per contender first: a fresh drover process runs its hot paths in
        // V8's interpreter until they are compiled, and a production process is warm.
        const warmStreams = Math.min(128, Math.max(...levels));
        for (const contender of warmSeconds > 0 ? contenders : []) {
          await runCell(opts, contender, eng, warmStreams, rate, 0, warmSeconds * 1000).catch((err: unknown) => {
            opts.log(`relay: warm-up of ${contender.name} failed: ${errMessage(err)}`);
          });
        }
        for (const streams of levels) {
          const workload = workloadName(streams, rate);
          for (const [name, message] of setupErrors) errorRow(workload, name, 'tokens/s', message);
          for (const contender of contenders) {
            try {
              const cell = await runCell(opts, contender, eng, streams, rate, warmupMs, durationMs);
              results.set(key(workload, contender.name), cell);
              const r = cell.result;
              const relayCpu = [...cell.cpu.values()].reduce((a, b) => a + b, 0);
              opts.log(
                `relay: ${workload} ${contender.name}: ${fmt(r.tokensPerSec)} tok/s, ttft p50 ${fmt(r.ttftP50Ms)} p99 ${fmt(r.ttftP99Ms)} ms, ` +
                  `gap p99 ${fmt(r.gapP99Ms)} ms, ${r.streamsCompleted} streams, ${r.errors} errors, cpu ${fmt(relayCpu)} s ` +
                  `(${[...cell.cpu].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}; engine ${fmt(cell.engineCpu)} s, loadgen ${fmt(cell.loadgenCpu)} s) for ${r.totalTokens} tokens`,
              );
            } catch (err) {
              errorRow(workload, contender.name, 'tokens/s', errMessage(err));
              opts.log(`relay: ${workload} ${contender.name} failed: ${errMessage(err)}`);
            }
            await new Promise((r) => setTimeout(r, 250));
          }
          pushCellRows(rows, workload, results, key, streams, rate);
        }
      } finally {
        await drover?.stop().catch(() => undefined);
        await nginx?.stop().catch(() => undefined);
        await engine?.stop().catch(() => undefined);
      }
    }
  } catch (err) {
    errorRow('setup', 'all', 'tokens/s', errMessage(err));
  } finally {
    killLiveOnExit();
    process.off('exit', killLiveOnExit);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
  return rows;
};

function pushCellRows(
  rows: BenchRow[],
  workload: string,
  results: Map<string, CellResult>,
  key: (workload: string, contender: ContenderName) => string,
  streams: number,
  rate: Rate,
): void {
  const base = { suite: SUITE, workload };
  const get = (c: ContenderName): CellResult | undefined => results.get(key(workload, c));
  const direct = get('direct');
  const nginx = get('nginx');
  const drover = get('drover');
  const baselineFor = (c: ContenderName): { name: ContenderName; cell: CellResult } | undefined => {
    if (c === 'nginx' && direct !== undefined) return { name: 'direct', cell: direct };
    if (c === 'drover' && nginx !== undefined) return { name: 'nginx', cell: nginx };
    if (c === 'drover' && direct !== undefined) return { name: 'direct', cell: direct };
    return undefined;
  };
  for (const [name, cell] of [['direct', direct], ['nginx', nginx], ['drover', drover]] as const) {
    if (cell === undefined) continue;
    const r = cell.result;
    const row = { ...base, contender: name };
    const baseline = baselineFor(name);
    const ratio = (value: number, baseValue: number): { ratio?: { to: string; value: number } } =>
      baseline !== undefined && baseValue > 0 && Number.isFinite(value) ? { ratio: { to: baseline.name, value: value / baseValue } } : {};
    rows.push({ ...row, metric: 'tokens/s', value: r.tokensPerSec, unit: 'tok/s', samples: r.streamsCompleted, ...ratio(r.tokensPerSec, baseline?.cell.result.tokensPerSec ?? 0) });
    rows.push({ ...row, metric: 'ttft p50 ms', value: r.ttftP50Ms, unit: 'ms', samples: r.ttftSamples, ...ratio(r.ttftP50Ms, baseline?.cell.result.ttftP50Ms ?? 0) });
    rows.push({ ...row, metric: 'ttft p99 ms', value: r.ttftP99Ms, unit: 'ms', samples: r.ttftSamples, ...ratio(r.ttftP99Ms, baseline?.cell.result.ttftP99Ms ?? 0) });
    rows.push({ ...row, metric: 'gap p99 ms', value: r.gapP99Ms, unit: 'ms', samples: r.gapSamples });
    const perM = (s: number): number => (r.totalTokens > 0 ? (s / r.totalTokens) * 1e6 : Number.NaN);
    const total = [...cell.cpu.values()].reduce((a, b) => a + b, 0);
    rows.push({ ...row, metric: 'cpu s / M tokens', value: perM(total), unit: 's/Mtok', samples: r.totalTokens });
    if (name === 'drover') {
      rows.push({ ...row, metric: 'cpu s / M tokens (node)', value: perM(cell.cpu.get('node') ?? 0), unit: 's/Mtok', samples: r.totalTokens });
      const nats = cell.cpu.get('nats-server');
      if (nats === undefined) rows.push({ ...row, metric: 'cpu s / M tokens (nats-server)', value: Number.NaN, unit: 's/Mtok', samples: 0, error: 'nats-server child of drover not found' });
      else rows.push({ ...row, metric: 'cpu s / M tokens (nats-server)', value: perM(nats), unit: 's/Mtok', samples: r.totalTokens });
    }
    if (r.errors > 0) rows.push({ ...row, metric: 'stream errors', value: r.errors, unit: 'streams', samples: r.errors + r.streamsCompleted, error: `${r.errors} streams failed; first: ${r.firstError ?? '?'}` });
  }

  const at128 = streams === 128;
  const targetTtft = at128 && rate === REAL_RATE;
  // Ratio rows: Drover against direct and nginx.
  for (const [baseName, baseCell] of [['direct', direct], ['nginx', nginx]] as const) {
    const contender = `drover/${baseName}`;
    const target = at128 && baseName === 'nginx' ? '≥ 0.5 × nginx at 128 streams' : undefined;
    if (drover === undefined || baseCell === undefined) {
      if (target !== undefined) rows.push({ ...base, contender, metric: 'tokens/s ratio', value: Number.NaN, unit: 'x', samples: 0, target: { text: target, met: false }, error: `not measured (${drover === undefined ? 'drover' : baseName} failed)` });
      continue;
    }
    const value = baseCell.result.tokensPerSec > 0 ? drover.result.tokensPerSec / baseCell.result.tokensPerSec : Number.NaN;
    rows.push({
      ...base,
      contender,
      metric: 'tokens/s ratio',
      value,
      unit: 'x',
      samples: Math.min(drover.result.streamsCompleted, baseCell.result.streamsCompleted),
      ...(target === undefined ? {} : { target: { text: target, met: value >= 0.5 } }),
    });
  }
  // Added time to first token over direct.
  for (const [metric, pick, limit] of [
    ['added ttft p50 ms', (c: CellResult) => c.result.ttftP50Ms, 2],
    ['added ttft p99 ms', (c: CellResult) => c.result.ttftP99Ms, 10],
  ] as const) {
    const target = targetTtft ? `≤ ${limit} ms over direct at 128 streams, 50 tok/s` : undefined;
    if (drover === undefined || direct === undefined) {
      if (target !== undefined) rows.push({ ...base, contender: 'drover − direct', metric, value: Number.NaN, unit: 'ms', samples: 0, target: { text: target, met: false }, error: `not measured (${drover === undefined ? 'drover' : 'direct'} failed)` });
      continue;
    }
    const value = pick(drover) - pick(direct);
    rows.push({
      ...base,
      contender: 'drover − direct',
      metric,
      value,
      unit: 'ms',
      samples: Math.min(drover.result.ttftSamples, direct.result.ttftSamples),
      ...(target === undefined ? {} : { target: { text: target, met: value <= limit } }),
    });
  }
}
