/**
 * The probes every engine shares and the parsing of their output: the executor sanity echo, the
 * nvidia-smi query, the engine process listing, the log tail, and curl command builders. Commands
 * are built only from constants, validated ports and `shellQuote`d text, so nothing a pool config
 * says (model names, log paths) can be run as shell code.
 */
import { z } from 'zod';
import type { ProbeResult } from '../../protocols/index.js';
import { shellQuote } from '../quote.js';
import type { ProbeRequest } from '../types.js';

/** Probe timeouts (seed-projects §B), in ms. */
export const PROBE_TIMEOUTS = {
  executor: 15_000,
  gpu: 10_000,
  processes: 10_000,
  logs: 10_000,
  http: 10_000,
  generation: 30_000,
} as const;

/** Bytes of engine log read per observation. */
export const LOG_TAIL_BYTES = 16_384;

/** What one stage's probe showed. */
export interface StageVerdict {
  passed: boolean;
  markers: string[];
}

/** A stage's probe and how to read its result. */
export interface StageCheck {
  request: ProbeRequest;
  judge(result: ProbeResult): StageVerdict;
}

const PROBE_OK = '__PROBE_OK__';

/** `executor`: the remote shell runs a command and its output comes back intact. */
export function executorCheck(): StageCheck {
  return {
    request: { name: 'executor', command: `printf '${PROBE_OK}\\n'`, timeoutMs: PROBE_TIMEOUTS.executor },
    judge: (r) => verdict(r.stdout.includes(PROBE_OK), 'executor_ok'),
  };
}

/** The nvidia-smi query of vllm-api.md §9 (csv, no header, no units). */
export const GPU_QUERY = 'nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,temperature.gpu --format=csv,noheader,nounits';

/** `gpu`: nvidia-smi exits 0 and lists at least one well-formed GPU row. */
export function gpuCheck(): StageCheck {
  return {
    request: { name: 'gpu', command: GPU_QUERY, timeoutMs: PROBE_TIMEOUTS.gpu },
    judge: (r) => verdict(r.ok && parseGpuRows(r.stdout).length > 0, 'gpu_ok'),
  };
}

/** One GPU as reported by the nvidia-smi query; values nvidia-smi marks `[N/A]` are undefined. */
export interface GpuRow {
  name: string;
  memoryTotalMiB: number;
  memoryUsedMiB: number | undefined;
  utilizationPct: number | undefined;
  temperatureC: number | undefined;
}

// Values that only mean "this GPU does not report it"; `[Unknown Error]`, `[GPU is lost]` and
// `[GPU requires reset]` mean the GPU is broken, so a row carrying them is not well-formed.
const NOT_REPORTED = new Set(['[N/A]', '[Not Supported]']);
const NUMBER = /^\d+(\.\d+)?$/;

/** Parses the GPU query output; lines that are not well-formed GPU rows (errors, bad values) are skipped. */
export function parseGpuRows(stdout: string): GpuRow[] {
  const rows: GpuRow[] = [];
  for (const line of stdout.split('\n')) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 5) continue;
    const [name = '', total = '', used = '', util = '', temp = ''] = fields;
    if (name === '' || name.startsWith('[') || !NUMBER.test(total) || Number(total) <= 0) continue;
    const optional = [used, util, temp].map((v) => (NUMBER.test(v) ? Number(v) : NOT_REPORTED.has(v) ? undefined : null));
    if (optional.includes(null)) continue;
    const [memoryUsedMiB, utilizationPct, temperatureC] = optional as (number | undefined)[];
    rows.push({ name, memoryTotalMiB: Number(total), memoryUsedMiB, utilizationPct, temperatureC });
  }
  return rows;
}

/** `engine_process`: a process whose command line matches `pattern` (an ERE) is running. */
export function processCheck(pattern: string): StageCheck {
  return {
    // `grep -v grep` drops the grep itself and the probe's own shells, whose command lines hold
    // the pattern next to the word grep. No match exits 1: a command failure, just not passed.
    request: { name: 'processes', command: `ps -eo pid,args | grep -E ${shellQuote(pattern)} | grep -v grep`, timeoutMs: PROBE_TIMEOUTS.processes },
    judge: (r) => verdict(r.ok && r.stdout.trim() !== '', 'process_up'),
  };
}

/** Reads the last LOG_TAIL_BYTES of the engine log; a missing log reads as empty, not as a failure. */
export function logTailRequest(logPath: string): ProbeRequest {
  return { name: 'logs', command: `tail -c ${LOG_TAIL_BYTES} ${shellQuote(logPath)} 2>/dev/null || true`, timeoutMs: PROBE_TIMEOUTS.logs };
}

/** `http://127.0.0.1:<port><path>`; a port that is not a TCP port is a defect of the caller. */
export function localUrl(port: number, path: string): string {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`not a TCP port: ${port}`);
  return `http://127.0.0.1:${port}${path}`;
}

/** Seconds curl may take, leaving the probe timeout room to report curl's own error instead. */
function curlMaxTime(timeoutMs: number): number {
  return Math.max(1, Math.floor(timeoutMs / 1000) - 2);
}

/**
 * Prints the HTTP status of a GET (`000` when nothing answers). Exits 0 even when the connection
 * is refused: an engine that does not listen yet is not a failed probe, just a stage not passed.
 */
export function curlStatusCommand(url: string, timeoutMs: number = PROBE_TIMEOUTS.http): string {
  return `curl -sS -o /dev/null -w '%{http_code}' --max-time ${curlMaxTime(timeoutMs)} ${shellQuote(url)} || true`;
}

/** GETs a URL and prints the body; any non-2xx status or connection error fails the command. */
export function curlGetCommand(url: string, timeoutMs: number = PROBE_TIMEOUTS.http): string {
  return `curl -fsS --max-time ${curlMaxTime(timeoutMs)} ${shellQuote(url)}`;
}

/**
 * POSTs `body` as JSON. The body reaches curl on stdin from a single-quoted printf argument, so
 * any text in it (a model name with quotes, `$(…)`, newlines) stays data.
 */
export function curlPostJsonCommand(url: string, body: unknown, timeoutMs: number = PROBE_TIMEOUTS.generation): string {
  return (
    `printf '%s' ${shellQuote(JSON.stringify(body))} | ` +
    `curl -fsS --max-time ${curlMaxTime(timeoutMs)} -H 'Content-Type: application/json' --data-binary @- ${shellQuote(url)}`
  );
}

/** The HTTP status printed by `curlStatusCommand`, or undefined when nothing answered. */
export function httpStatusOf(r: ProbeResult): number | undefined {
  const status = Number(r.stdout.trim());
  return r.ok && Number.isInteger(status) && status >= 100 ? status : undefined;
}

/** Parses a probe's stdout as JSON against `schema`; undefined when the probe failed or it does not match. */
export function jsonOf<T>(r: ProbeResult, schema: z.ZodType<T>): T | undefined {
  if (!r.ok) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** OpenAI `/v1/models`: the ids served. */
export const ModelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

/** A verdict whose only marker is `marker`, present when `passed`. */
export function verdict(passed: boolean, marker: string): StageVerdict {
  return { passed, markers: passed ? [marker] : [] };
}
