/**
 * The boot plan of a simulated vLLM process: which log lines appear when, and when the engine
 * loads weights, starts listening, exits, hangs or dies. Pure: the host (host.ts) runs the plan
 * against a clock. Failures happen at the point of vLLM's real boot order where they would:
 * platform detection (NVML) → repo resolution → engine core device init (CUDA) → weight download
 * and load (OOM) → KV cache sizing → routes → `Application startup complete.`.
 */
import { maxFitModelLen, knownModel, paramsBillions, weightsMb, workloadFault, type SimLaunch } from './host-launch.js';
import {
  BAD_REPO_TAIL, CUDA_NO_GPUS_TAIL, ENGINE_DEAD, KV_TAIL, NO_PLATFORM, OOM_TAIL, SHUTDOWN, STARTUP,
  downloadProgress, fill, lineIndex, timeline, type LogVars, type TimedLine,
} from './host-logs.js';
import type { HostProfile } from './host-types.js';

/** What the host does at a point of the plan besides writing lines. */
export type BootAction =
  /** Weights are on the GPU: nvidia-smi shows the memory in use. */
  | 'weights_loaded'
  /** Startup complete: the engine starts listening on the public engine port. */
  | 'listen'
  /** The engine dies: `/health` 503, open streams get an error event. */
  | 'die'
  /** The process exits: the engine (if any) closes, it leaves `ps`, GPU memory is freed. */
  | 'exit'
  /** Nothing more ever happens; the process stays. */
  | 'hang';

/** Lines to append at `t` (fixture seconds from process start), then an optional action. */
export interface BootEvent {
  t: number;
  lines: string[];
  action?: BootAction;
}

/** What decides a boot. */
export interface BootInput {
  launch: SimLaunch;
  profile: HostProfile;
  gpuRamMb: number;
}

/** Fixture seconds a `dies_while_serving` engine serves before it dies. */
export const SERVE_BEFORE_DEATH_T = 40;
/** Fixture seconds from engine death to vLLM's watchdog shutting the server down. */
export const WATCHDOG_T = 4;
const FAIL_AFTER_T = 2;
const DOWNLOAD_LINES = 6;

/** The full plan for one launch on one host. */
export function bootPlan(input: BootInput): BootEvent[] {
  const { launch, profile, gpuRamMb } = input;
  const vars = logVars(launch, gpuRamMb);
  const startup = filled(timeline(STARTUP), vars);
  const upTo = (marker: string): TimedLine[] => startup.slice(0, lineIndex(STARTUP, marker) + 1);
  const tail = (lines: readonly string[], t: number): TimedLine[] => lines.map((text) => ({ t, text: fill(text, vars) }));
  const endOf = (lines: TimedLine[]): number => lines.at(-1)?.t ?? 0;
  const failing = (head: TimedLine[], lines: readonly string[]): BootEvent[] =>
    withAction(group([...head, ...tail(lines, endOf(head) + FAIL_AFTER_T)]), 'exit');

  if (profile === 'nvml_mismatch') return withAction(group(filled(timeline(NO_PLATFORM), vars)), 'exit');
  const fault = workloadFault(launch, gpuRamMb);
  if (fault?.kind === 'bad_repo') return failing(upTo('non-default args'), BAD_REPO_TAIL);
  if (profile === 'gpu_fallen_off') return failing(upTo('Initializing a V1 LLM engine'), CUDA_NO_GPUS_TAIL);

  const formatAt = lineIndex(STARTUP, 'Using model weights format');
  const head = startup.slice(0, formatAt + 1);
  if (profile === 'hangs') return withAction(group(head), 'hang');
  const totalGb = paramsBillions(launch.model) > 0 ? paramsBillions(launch.model) * 2.06 : 3.09;
  const downloaded = startup[formatAt + 1]?.t ?? endOf(head);
  const download = downloadProgress(totalGb, endOf(head), downloaded, DOWNLOAD_LINES);
  if (fault?.kind === 'oom') {
    const shards = tail(OOM_TAIL.slice(0, 2), downloaded);
    return withAction(group([...head, ...download, ...shards, ...tail(OOM_TAIL.slice(2), downloaded + FAIL_AFTER_T)]), 'exit');
  }
  if (fault?.kind === 'kv_cache') {
    const kvAt = lineIndex(STARTUP, 'Available KV cache memory');
    const before = [...head, ...download, ...startup.slice(formatAt + 1, kvAt)];
    const at = startup[kvAt]?.t ?? endOf(before);
    return withAction(group([...before, ...tail(KV_TAIL.slice(0, 1), at), ...tail(KV_TAIL.slice(1), at + FAIL_AFTER_T)]), 'exit');
  }

  const loadedAt = lineIndex(STARTUP, 'Model loading took');
  const plan = [
    ...withAction(group([...head, ...download, ...startup.slice(formatAt + 1, loadedAt + 1)]), 'weights_loaded'),
    ...withAction(group(startup.slice(loadedAt + 1)), 'listen'),
  ];
  if (profile !== 'dies_while_serving') return plan;
  const deathAt = endOf(startup) + SERVE_BEFORE_DEATH_T;
  return [
    ...plan,
    { t: deathAt, lines: ENGINE_DEAD.map((l) => fill(l, vars)), action: 'die' },
    { t: deathAt + WATCHDOG_T, lines: [...SHUTDOWN], action: 'exit' },
  ];
}

/** Placeholder values for one launch on one GPU. */
export function logVars(launch: SimLaunch, gpuRamMb: number): LogVars {
  const known = knownModel(launch.model);
  const maxLen = launch.maxModelLen ?? known?.defaultMaxModelLen ?? 2048;
  const totalGib = gpuRamMb / 1024;
  const kvGib = Math.max(0.5, (gpuRamMb * 0.9 - weightsMb(launch.model)) / 1024);
  const maxFit = maxFitModelLen(gpuRamMb);
  return {
    model: launch.model,
    served: launch.servedModelName,
    args: nonDefaultArgs(launch),
    arch: known?.architecture ?? 'Qwen2ForCausalLM',
    max_len: String(maxLen),
    max_len_commas: maxLen.toLocaleString('en-US'),
    max_len_arg: launch.maxModelLen === undefined ? 'None' : String(launch.maxModelLen),
    concurrency: (2_483_296 / maxLen).toFixed(2),
    total_gib: totalGib.toFixed(2),
    in_use_gib: (totalGib - 0.74).toFixed(2),
    alloc_gib: (totalGib - 1.19).toFixed(2),
    kv_gib: kvGib.toFixed(2),
    // bf16 weights: 2 bytes per parameter (the fixture's 1.5B model took 2.8876 GiB).
    weights_gib: (paramsBillions(launch.model) > 0 ? paramsBillions(launch.model) * 1.92507 : 2.8876).toFixed(4),
    kv_max_len: String(maxFit),
    kv_needed_gib: ((kvGib * maxLen) / maxFit).toFixed(2),
  };
}

/** vLLM's `non-default args: {…}` dict (Python repr) for this launch; the API key is left out. */
function nonDefaultArgs(launch: SimLaunch): string {
  const entries: string[] = [];
  if (launch.form === 'serve') entries.push(`'model_tag': ${pyRepr(launch.model)}`);
  const host = launch.flags.get('--host');
  if (host !== undefined) entries.push(`'host': ${pyRepr(host)}`);
  entries.push(`'model': ${pyRepr(launch.model)}`);
  for (const [flag, value] of launch.flags) {
    if (flag === '--model' || flag === '--host' || flag === '--api-key' || (flag === '--port' && value === '8000')) continue;
    entries.push(`'${flag.slice(2).replace(/-/g, '_')}': ${pyRepr(value)}`);
  }
  return `{${entries.join(', ')}}`;
}

function pyRepr(value: string | true): string {
  if (value === true) return 'True';
  if (/^-?\d+(?:\.\d+)?$/.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function filled(lines: TimedLine[], vars: LogVars): TimedLine[] {
  return lines.map((l) => ({ t: l.t, text: fill(l.text, vars) }));
}

/** Merges consecutive lines with the same time into one event. */
function group(lines: TimedLine[]): BootEvent[] {
  const events: BootEvent[] = [];
  for (const line of lines) {
    const last = events.at(-1);
    if (last !== undefined && last.t === line.t) last.lines.push(line.text);
    else events.push({ t: line.t, lines: [line.text] });
  }
  return events;
}

function withAction(events: BootEvent[], action: BootAction): BootEvent[] {
  const last = events.at(-1);
  return [...events, { t: last?.t ?? 0, lines: [], action }];
}
