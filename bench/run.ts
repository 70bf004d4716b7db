/**
 * Benchmark runner (`make bench`, `QUICK=1` for a run under two minutes): runs the suites in order
 * (relay, admission, placement, fleet-scale; `BENCH_SUITES=placement,admission` selects), prints
 * one markdown table — errored rows first — and writes `bench/results/latest.json` (rows and the
 * machine) and `bench/results/latest.md` (the table under a header naming machine, versions, date).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem, type } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchOptions, BenchRow, BenchSuite } from './types.js';
import { killAllChildren } from './lib.js';
import { relaySuite } from './relay.js';
import { admissionSuite } from './admission.js';
import { placementSuite } from './placement.js';
import { fleetScaleSuite } from './fleet-scale.js';

const run = promisify(execFile);

/** The suites, in the order they run. */
export const SUITES: ReadonlyArray<readonly [string, BenchSuite]> = [
  ['relay', relaySuite],
  ['admission', admissionSuite],
  ['placement', placementSuite],
  ['fleet-scale', fleetScaleSuite],
];

/** The machine and versions a result was measured on. */
export interface MachineInfo {
  cpu_model: string;
  cores: number;
  memory_gb: number;
  os: string;
  node: string;
  nats_server: string | null;
  nginx: string | null;
  git_commit: string | null;
  date: string;
}

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  quick?: boolean;
  /** Suite names to run (default: all, in order). */
  suites?: string[];
  /** Repository root (default: the parent of `bench/`). */
  root?: string;
  /** Where `latest.json` and `latest.md` go (default `<root>/bench/results`; `null`: write nothing). */
  resultsDir?: string | null;
  log?: (line: string) => void;
}

/** What {@link runBench} returns. */
export interface BenchReport {
  rows: BenchRow[];
  machine: MachineInfo;
  quick: boolean;
  /** The markdown table (errored rows first). */
  table: string;
}

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

async function version(cmd: string, args: string[], re: RegExp): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 5_000 });
    return re.exec(`${stdout}\n${stderr}`)?.[1] ?? (`${stdout}${stderr}`.trim().split('\n')[0] || null);
  } catch {
    return null;
  }
}

/** Collects the machine description and tool versions. */
export async function machineInfo(root: string): Promise<MachineInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(osRelease)?.[1];
  let commit = await version('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], /^(\S+)/);
  if (commit !== null) {
    const dirty = await version('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], /^(.+)$/m);
    if (dirty !== null && dirty !== '') commit += '+dirty';
  }
  const cpu = cpus();
  return {
    cpu_model: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${pretty ?? type()} (${type()} ${release()})`,
    node: process.version,
    nats_server: await version('nats-server', ['--version'], /v?(\d+\.\d+\.\d+\S*)/),
    nginx: await version('nginx', ['-v'], /nginx\/(\S+)/),
    git_commit: commit,
    date: new Date().toISOString(),
  };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 100) return Math.round(n).toLocaleString('en-US');
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Errored rows first, otherwise the suites' own order. */
export function orderRows(rows: readonly BenchRow[]): BenchRow[] {
  return [...rows.filter((r) => r.error !== undefined), ...rows.filter((r) => r.error === undefined)];
}

/** The one markdown table: suite, workload, contender, metric, result ± tolerance, samples, ratio, target. */
export function formatTable(rows: readonly BenchRow[]): string {
  const lines = ['| suite | workload | contender | metric | result ± tolerance | samples | ratio | target |', '|---|---|---|---|---|---|---|---|'];
  for (const r of orderRows(rows)) {
    const result =
      r.error !== undefined
        ? `**ERROR**: ${r.error}`
        : `${fmt(r.value)}${r.tolerance !== undefined ? ` ± ${fmt(r.tolerance)}` : ''} ${r.unit}`;
    const ratio = r.ratio !== undefined ? `${r.ratio.value.toFixed(2)}× ${r.ratio.to}` : '';
    const target = r.target !== undefined ? `${r.target.text}: ${r.target.met ? 'met' : '**missed**'}` : '';
    lines.push(`| ${[r.suite, r.workload, r.contender, r.metric, result, String(r.samples), ratio, target].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** `latest.md`: a header naming the machine, versions and date, then the table. */
export function renderMarkdown(report: BenchReport): string {
  const { machine, quick } = report;
  return [
    `# Drover benchmarks${quick ? ' (QUICK=1)' : ''}`,
    '',
    `- machine: ${machine.cpu_model}, ${machine.cores} cores, ${machine.memory_gb} GB, ${machine.os}`,
    `- versions: Node ${machine.node}, nats-server ${machine.nats_server ?? 'absent'}, nginx ${machine.nginx ?? 'absent'}`,
    `- commit: ${machine.git_commit ?? 'unknown'}`,
    `- date: ${machine.date}`,
    '',
    'Each row names its workload; every contender of a workload ran the same one. `±` is half the spread of repeated rounds (or of per-second rates) unless the suite says otherwise.',
    '',
    formatTable(report.rows),
    '',
  ].join('\n');
}

/** Runs the selected suites and writes the results; never throws for a failing suite (it becomes an error row). */
export async function runBench(opts: RunBenchOptions = {}): Promise<BenchReport> {
  const root = opts.root ?? ROOT;
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wanted = opts.suites ?? SUITES.map(([n]) => n);
  const unknown = wanted.filter((w) => !SUITES.some(([n]) => n === w));
  if (unknown.length > 0) throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${SUITES.map(([n]) => n).join(', ')}`);
  const workDir = await mkdtemp(join(tmpdir(), 'drover-bench-'));
  const rows: BenchRow[] = [];
  try {
    for (const [name, suite] of SUITES) {
      if (!wanted.includes(name)) continue;
      const started = Date.now();
      log(`bench: ${name}…`);
      const suiteDir = join(workDir, name);
      await mkdir(suiteDir, { recursive: true });
      const o: BenchOptions = { quick, root, workDir: suiteDir, log: (l) => log(`  ${l}`) };
      try {
        rows.push(...(await suite(o)));
      } catch (err) {
        rows.push({ suite: name, workload: '-', contender: '-', metric: '-', value: NaN, unit: '', samples: 0, error: `suite threw: ${(err as Error).message}` });
      } finally {
        killAllChildren();
      }
      log(`bench: ${name} done in ${((Date.now() - started) / 1_000).toFixed(1)} s`);
    }
  } finally {
    killAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }
  const machine = await machineInfo(root);
  const table = formatTable(rows);
  const resultsDir = opts.resultsDir === undefined ? join(root, 'bench/results') : opts.resultsDir;
  if (resultsDir !== null) {
    await mkdir(resultsDir, { recursive: true });
    await writeFile(join(resultsDir, 'latest.json'), `${JSON.stringify({ quick, machine, rows: orderRows(rows) }, null, 2)}\n`);
    await writeFile(join(resultsDir, 'latest.md'), renderMarkdown({ rows, machine, quick, table }));
  }
  return { rows, machine, quick, table };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const quick = process.env.QUICK === '1' || process.env.QUICK === 'true';
  const suites = process.env.BENCH_SUITES?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
  runBench({ quick, ...(suites !== undefined && suites.length > 0 ? { suites } : {}) }).then(
    (report) => {
      process.stdout.write(`${report.table}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      killAllChildren();
      process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
