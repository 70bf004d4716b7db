/**
 * Progress detection (DESIGN §5): has a warming host moved closer to ready since the last look?
 * The answer resets the stage's no-progress deadline, so it must not be easy to satisfy. The
 * compute_orchestrator seed counted any change of `ps` or `nvidia-smi` output as progress, and
 * those fluctuate on a host that is stuck (seed 000 "Todo / Gotchas"). Here only three things count:
 *  - a new semantic marker of the engine's startup (vLLM lines of vllm-api.md §6, in order), or one
 *    reported by the readiness adapter (e.g. `port_bound`);
 *  - new meaningful lines at the end of the engine log — not the access-log lines our own `/health`
 *    probes cause, not the periodic stats line, and not vLLM's "No available shared memory broadcast
 *    block found" warning, which is printed every 60 s precisely *because* a process hangs;
 *  - a readiness stage closer to ready than the best one seen.
 * Probe output (`ps`, `nvidia-smi`) is accepted in the observation and deliberately ignored.
 *
 * Pure: `at` comes in with the observation.
 */
import type { ProbeResult, ReadinessStage, READINESS_STAGES } from '../protocols/index.js';

/** The vLLM startup markers, in the order a healthy startup prints them (vllm-api.md §6). */
export const PROGRESS_MARKERS = [
  'platform_detected',
  'api_server_started',
  'engine_init',
  'model_loading',
  'weights_downloading',
  'weights_loaded',
  'compiling',
  'kv_cache_sized',
  'graphs_captured',
  'engine_ready',
  'routes_logged',
  'app_started',
] as const;
/** One vLLM startup marker. */
export type ProgressMarker = (typeof PROGRESS_MARKERS)[number];

/** Which log line shows which marker (case-insensitive; vLLM 0.8–0.11 wording, V0 variants). */
const MARKER_PATTERNS: ReadonlyArray<readonly [ProgressMarker, RegExp]> = [
  ['platform_detected', /automatically detected platform/i],
  ['api_server_started', /vllm api server version/i],
  ['engine_init', /initializing an? (v1 )?llm engine|waiting for init message from front-end/i],
  ['model_loading', /starting to load model|loading model from scratch/i],
  ['weights_downloading', /loading (safetensors|pt) checkpoint shards|downloading|\.(safetensors|bin|pt|gguf)\S*:\s*\d+%/i],
  ['weights_loaded', /loading weights took|model loading took/i],
  ['compiling', /torch\.compile|dynamo bytecode transform|compiling a graph/i],
  ['kv_cache_sized', /gpu kv cache size|# (gpu|cuda) blocks:/i],
  ['graphs_captured', /graph capturing finished/i],
  ['engine_ready', /init engine \(.*\) took/i],
  ['routes_logged', /available routes are/i],
  ['app_started', /application startup complete/i],
];

/**
 * Log lines that change without the engine getting closer to ready: uvicorn access-log lines (our
 * own probes cause them), vLLM's periodic stats line, and its hang warning.
 */
const NOISE_PATTERNS: readonly RegExp[] = [
  /"(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH) \S+ HTTP\/[\d.]+" \d{3}/,
  /avg prompt throughput:/i,
  /no available shared memory broadcast block found/i,
];

/** How many meaningful log lines the state keeps to recognise where the previous tail ended. */
export const TAIL_FINGERPRINT_LINES = 20;

/** The memory of progress for one host; feed it back on the next observation. */
export interface ProgressState {
  /** The last meaningful log lines seen (oldest first, at most {@link TAIL_FINGERPRINT_LINES}). */
  tailFingerprint: string[];
  /** Every marker seen so far, in the order first seen. */
  markers: string[];
  /** When progress was last seen (the first observation counts as progress). */
  lastProgressAt: number;
  /** The readiness stage closest to ready seen so far. */
  bestStage: ReadinessStage;
}

/** One observation of a warming host. */
export interface ProgressObservation {
  at: number;
  stage: ReadinessStage;
  /** The engine log tail, when it was read this time (absent: not read; the fingerprint is kept). */
  logTail?: string;
  /** Markers the readiness adapter saw (e.g. `port_bound`, `model_listed`), merged with the log's. */
  markers?: readonly string[];
  /** Probe output; accepted and deliberately ignored (`ps`/`nvidia-smi` fluctuate without progress). */
  probes?: readonly ProbeResult[];
}

/** The verdict of {@link assessProgress}. */
export interface ProgressAssessment {
  state: ProgressState;
  progressed: boolean;
  /** Markers seen for the first time in this observation, in order. */
  newMarkers: string[];
}

/**
 * The readiness stages in order, as a value policies can use without importing zod at run time
 * (type-only use of READINESS_STAGES: the compiler checks this is the protocol's list, in order).
 */
export const STAGE_ORDER: typeof READINESS_STAGES = ['instance_running', 'ssh', 'executor', 'gpu', 'engine_process', 'port_bound', 'model_listed', 'generation'];

/** Position of a stage in the readiness order (0 = instance_running). */
export function stageIndex(stage: ReadinessStage): number {
  return STAGE_ORDER.indexOf(stage);
}

/** The startup markers a log tail shows, each once, in the order they first appear. */
export function extractMarkers(logTail: string): ProgressMarker[] {
  const firstSeen = new Map<ProgressMarker, number>();
  const lines = logTail.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    for (const [marker, re] of MARKER_PATTERNS) {
      if (!firstSeen.has(marker) && re.test(line)) firstSeen.set(marker, i);
    }
  }
  // Several markers may first appear on one line; ties keep the canonical order.
  return [...firstSeen.entries()]
    .sort((a, b) => a[1] - b[1] || PROGRESS_MARKERS.indexOf(a[0]) - PROGRESS_MARKERS.indexOf(b[0]))
    .map(([m]) => m);
}

/** The log lines that count for progress: trimmed, non-empty, not noise. */
export function meaningfulLines(logTail: string): string[] {
  return logTail
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => stripProcessTag(l) !== '' && !NOISE_PATTERNS.some((re) => re.test(l)));
}

function stripProcessTag(line: string): string {
  return line.replace(/^\([^)]*pid=\d+\)/, '').trim();
}

/**
 * The lines of `current` that come after the end of `previous` (a fingerprint of the last lines
 * seen). The tail is a sliding window, so the previous last line is looked for from the end, with
 * as many preceding lines as overlap checked too (repeated identical lines are not mistaken for
 * old ones). When no overlap is found the log was replaced or outran the window: all is new.
 */
export function linesAfter(previous: readonly string[], current: readonly string[]): string[] {
  if (previous.length === 0) return [...current];
  for (let j = current.length - 1; j >= 0; j--) {
    const m = Math.min(previous.length, j + 1);
    let match = true;
    for (let k = 0; k < m; k++) {
      if (current[j - k] !== previous[previous.length - 1 - k]) {
        match = false;
        break;
      }
    }
    if (match) return current.slice(j + 1);
  }
  return [...current];
}

/**
 * Compares an observation with the previous state. Progress is a new marker, new meaningful log
 * lines, or a stage past the best one seen; the first observation (no previous state) is the
 * baseline and counts as progress. `lastProgressAt` moves to `obs.at` only on progress.
 */
export function assessProgress(prev: ProgressState | undefined, obs: ProgressObservation): ProgressAssessment {
  const logMarkers = obs.logTail === undefined ? [] : extractMarkers(obs.logTail);
  const seen = new Set(prev?.markers ?? []);
  const newMarkers: string[] = [];
  for (const m of [...logMarkers, ...(obs.markers ?? [])]) {
    if (!seen.has(m)) {
      seen.add(m);
      newMarkers.push(m);
    }
  }
  const lines = obs.logTail === undefined ? undefined : meaningfulLines(obs.logTail);
  const previousTail = prev?.tailFingerprint ?? [];
  const fresh = lines === undefined ? [] : linesAfter(previousTail, lines);
  const tailFingerprint = lines === undefined || lines.length === 0 ? previousTail : lines.slice(-TAIL_FINGERPRINT_LINES);
  const closer = prev === undefined || stageIndex(obs.stage) > stageIndex(prev.bestStage);
  const progressed = prev === undefined || newMarkers.length > 0 || fresh.length > 0 || closer;
  const bestStage = prev === undefined || closer ? obs.stage : prev.bestStage;
  return {
    state: {
      tailFingerprint,
      markers: [...(prev?.markers ?? []), ...newMarkers],
      lastProgressAt: prev === undefined || progressed ? obs.at : prev.lastProgressAt,
      bestStage,
    },
    progressed,
    newMarkers,
  };
}
