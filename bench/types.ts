/**
 * Contract between the benchmark runner (`bench/run.ts`) and its suites. Every suite gives each
 * contender the same workload and returns rows; the runner prints one table and writes
 * `bench/results/latest.json` and `latest.md` with the machine, versions and date.
 */

/** Knobs every suite receives. */
export interface BenchOptions {
  /** `make bench QUICK=1`: the whole run stays under two minutes. */
  quick: boolean;
  /** Repository root (for bin/drover, nats.conf). */
  root: string;
  /** Scratch directory for this run (removed afterwards). */
  workDir: string;
  log: (line: string) => void;
}

/** One measured figure. */
export interface BenchRow {
  /** Suite name, e.g. `relay`, `admission`, `placement`, `fleet-scale`. */
  suite: string;
  /** The workload, e.g. `128 streams, 50 tok/s`. */
  workload: string;
  /** Who was measured, e.g. `direct`, `nginx`, `drover`. */
  contender: string;
  /** Metric name, e.g. `tokens/s`, `ttft p50 ms`, `cpu s / M tokens`. */
  metric: string;
  value: number;
  unit: string;
  /** Samples behind the value. */
  samples: number;
  /** ± tolerance (e.g. half the spread of repeated runs), when known. */
  tolerance?: number;
  /** Ratio to the baseline contender of the same workload and metric (e.g. drover/nginx). */
  ratio?: { to: string; value: number };
  /** A target this figure is held to, and whether it was met. */
  target?: { text: string; met: boolean };
  /** Set when the measurement failed; errored rows print first. */
  error?: string;
}

/** A suite: runs its contenders and returns rows (it never throws; failures become error rows). */
export type BenchSuite = (opts: BenchOptions) => Promise<BenchRow[]>;
