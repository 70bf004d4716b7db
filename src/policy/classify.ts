/**
 * Failure classification (DESIGN §5, seed-projects §B): what a host's evidence — the provider's
 * instance status and status message, the SSH probes' output, the engine's log tail — says about
 * *why* it is not ready. The class decides the reaction (pool-reactions.ts), so a wrong verdict
 * either blacklists a good machine for ever or keeps paying for a broken one; every rule below is
 * an exact signature string from the references (vllm-api.md §7 and §9, anchors.md §5, the
 * compute_orchestrator seed), matched case-insensitively.
 *
 * The rules, in order (the first that holds wins):
 *  1. The provider's `status_msg` carries a container start error (OCI runtime, docker daemon,
 *     "no such container") → INFRA_FATAL. It comes from the provider, not from the host, so it is
 *     trusted even when the host's own probes are not.
 *  2. The executor sanity probe (`printf __PROBE_OK__`, name `executor`) failed or did not print
 *     the marker → the host's other output this round cannot be trusted: INFRA_FATAL if the
 *     provider says the instance is dead (rule 4), else UNKNOWN (the seed keeps polling: a flaky
 *     executor is not proof that the workload crashed).
 *  3. A signature in the host's output — the stdout/stderr of every probe whose *transport* worked,
 *     then the log tail — in the priority order of {@link FAILURE_SIGNATURES}: hardware, driver and
 *     container breakage (INFRA_FATAL) first, because a broken host explains everything downstream;
 *     then driver/CUDA/architecture too old for this engine (WORKLOAD_INCOMPATIBLE), checked before
 *     the generic `cudaGetDeviceCount` wrapper whose message often *contains* the incompatibility;
 *     then our own configuration (WORKLOAD_FATAL). Output of a probe whose transport failed is
 *     ignored: the command's outcome is unknown (ProbeResult doc), so a dropped SSH connection is
 *     never by itself evidence of a fatal class.
 *  4. The provider reports the instance exited / offline / unknown (or error / failed) →
 *     INFRA_FATAL. It comes after rule 3 because an engine that dies of our config can take the
 *     container down with it, and then the log explains the exit better than the status does.
 *  5. The log shows startup progress (a marker of progress.ts) and nothing fatal → WARMUP.
 *  6. Nothing to go on → UNKNOWN. UNKNOWN never blacklists (pool-reactions.ts).
 *
 * Pure: no I/O, no clock.
 */
import type { FailureClass, ProbeResult, ReadinessStage } from '../protocols/index.js';
import { extractMarkers } from './progress.js';

/** Longest evidence excerpt (characters): enough for the root-cause line and its neighbours, small
 * enough to publish on `drover.hosts.<id>.state` and keep in a KV record. */
export const MAX_EVIDENCE_CHARS = 2_000;

/** The classes a signature can prove; WARMUP and UNKNOWN are never proven by one line. */
export type FatalClass = Extract<FailureClass, 'INFRA_FATAL' | 'WORKLOAD_INCOMPATIBLE' | 'WORKLOAD_FATAL'>;

/** One exact signature string and what it proves. */
export interface FailureSignature {
  readonly class: FatalClass;
  /** Matched case-insensitively as a substring of one source (status message, probe output, log). */
  readonly needle: string;
  /** One line for operators: what the signature means. */
  readonly reason: string;
}

const infra = (needle: string, reason: string): FailureSignature => ({ class: 'INFRA_FATAL', needle, reason });
const incompatible = (needle: string, reason: string): FailureSignature => ({ class: 'WORKLOAD_INCOMPATIBLE', needle, reason });
const workload = (needle: string, reason: string): FailureSignature => ({ class: 'WORKLOAD_FATAL', needle, reason });

/**
 * Every fatal signature, in priority order (the first one found in any source wins, whatever its
 * position in the log). Sources: vllm-api.md §7 (vLLM/torch/HF), §9 (nvidia-smi, kernel log),
 * seed-projects §B (compute_orchestrator markers and status_msg hard fails), anchors §5 (dstack's
 * OCI check, Xid 79).
 */
export const FAILURE_SIGNATURES: readonly FailureSignature[] = [
  // --- INFRA_FATAL: the GPU, its driver or the container runtime is broken (vllm-api §9, §7).
  infra("couldn't communicate with the nvidia driver", 'nvidia-smi cannot reach the NVIDIA driver (driver not loaded)'),
  infra('failed to initialize nvml', 'NVML fails to initialize (driver/library mismatch or lost device access)'),
  infra('unable to determine the device handle', 'nvidia-smi cannot get a device handle (GPU lost or broken)'),
  infra('gpu is lost', 'the GPU is lost and needs a reboot'),
  infra('fallen off the bus', 'the GPU has fallen off the bus (Xid 79)'),
  infra('gpu requires reset', 'the GPU requires a reset'),
  infra('no devices were found', 'nvidia-smi finds no GPU'),
  infra('no cuda gpus are available', 'torch sees the driver but no GPU in the container'),
  infra('failed to infer device type', 'vLLM finds no GPU platform (container without GPUs)'),
  infra('no platform detected', 'vLLM finds no GPU platform (container without GPUs)'),
  infra('unsupported display driver / cuda driver combination', 'the host driver and the CUDA libraries do not fit together (CUDA error 803)'),
  // Container start failures: usually in the provider's status_msg (seed §B, dstack).
  infra('oci runtime create failed', 'the container runtime could not create the container'),
  infra('failed to create task for container', 'the container runtime could not start the container'),
  infra('error response from daemon', 'the docker daemon refused to start the container'),
  infra('gpu error, unable to start instance', 'the provider could not start the instance on its GPU'),
  infra('no such container', 'the container is gone'),
  // --- WORKLOAD_INCOMPATIBLE: this engine build needs a newer driver/CUDA or another GPU arch.
  // Checked before the generic cudaGetDeviceCount wrapper below, whose message carries the reason.
  incompatible('cuda driver version is insufficient', 'the host driver is too old for the CUDA runtime of this engine'),
  incompatible('cannot find -lcuda', 'the engine cannot link libcuda on this host (compile step)'),
  incompatible('inductorerror', 'torch inductor cannot compile this engine on this host'),
  incompatible('no kernel image is available for execution on the device', 'the engine has no kernels for this GPU architecture'),
  incompatible('the provided ptx was compiled with an unsupported toolchain', 'the host driver is too old for the PTX of this engine'),
  // --- INFRA_FATAL (generic): CUDA initialisation failed for a reason not recognised above (seed §B).
  infra('cudagetdevicecount', 'CUDA cannot count the GPUs (cudaGetDeviceCount failed)'),
  // --- WORKLOAD_FATAL: our configuration is wrong; another host would fail the same way.
  workload('repositorynotfounderror', 'the model repository does not exist or is private'),
  workload('repository not found', 'the model repository does not exist or is private'),
  workload('gatedrepoerror', 'the model repository is gated and we have no access'),
  workload('cannot access gated repo', 'the model repository is gated and we have no access'),
  workload('invalid repository id', 'the model id is not a valid repository or local directory'),
  workload('is not a local folder and is not a valid model identifier', 'the model id is not a valid repository or local directory'),
  workload('cuda out of memory', 'the model does not fit in GPU memory (CUDA OOM)'),
  workload('outofmemoryerror', 'the model does not fit in GPU memory (CUDA OOM)'),
  workload('kv cache is needed, which is larger than the available kv cache memory', 'the KV cache for max_model_len does not fit (lower max_model_len or raise gpu_memory_utilization)'),
  workload('no available memory for the cache blocks', 'no GPU memory left for the KV cache'),
  workload('larger than the maximum number of tokens that can be stored in kv cache', 'the KV cache for max_model_len does not fit (lower max_model_len or raise gpu_memory_utilization)'),
  workload('free memory on device', 'less free GPU memory than gpu_memory_utilization asks for'),
  workload('address already in use', 'the engine port is already taken (our launch config)'),
  workload('error: unrecognized arguments', 'the engine rejects its command-line arguments'),
  workload('error: argument --', 'the engine rejects a command-line argument value'),
  workload('the following arguments are required', 'the engine is missing a required argument'),
  // Every vLLM engine failure ends with these lines; they are no root cause by themselves (the
  // specific signatures above win), but an engine that died of something unrecognised is failed
  // now rather than waited on until the deadline: WORKLOAD_FATAL spends the pool's bounded budget
  // and never blacklists, where a wait would burn the whole stage deadline on a dead process.
  workload('engine core initialization failed', 'the engine failed to start (root cause not recognised; see evidence)'),
  workload('enginecore failed to start', 'the engine failed to start (root cause not recognised; see evidence)'),
  workload('enginedeaderror', 'the engine died (root cause not recognised; see evidence)'),
];

/** Provider statuses that mean the instance is gone or unreachable (seed §B hard fails, anchors §5). */
const DEAD_INSTANCE_STATUSES: ReadonlySet<string> = new Set(['exited', 'offline', 'unknown', 'error', 'failed']);

/** Probe names of the executor sanity check (Drover's and the seed's). */
const EXECUTOR_PROBES: ReadonlySet<string> = new Set(['executor', 'executor_echo']);

/** The marker the executor sanity probe must print. */
export const PROBE_OK_MARKER = '__PROBE_OK__';

/** What {@link classifyFailure} looks at; every field is optional. */
export interface ClassifyInput {
  stage?: ReadinessStage;
  probes?: readonly ProbeResult[];
  logTail?: string;
  statusMsg?: string;
  instanceStatus?: string;
}

/** The verdict: a class, one line of reason, and a bounded excerpt that shows why. */
export interface Classification {
  class: FailureClass;
  reason: string;
  /** At most {@link MAX_EVIDENCE_CHARS} characters, centred on the matching line. */
  evidence: string;
}

interface Source {
  label: string;
  text: string;
}

/** The executor sanity probe, when one is present and did not prove the executor truthful (it
 * failed, or answered without printing {@link PROBE_OK_MARKER}); undefined otherwise. */
export function executorFailed(probes: readonly ProbeResult[]): ProbeResult | undefined {
  return probes.find((p) => EXECUTOR_PROBES.has(p.name) && !(p.ok && p.transport_ok && p.stdout.includes(PROBE_OK_MARKER)));
}

/**
 * Classifies a host's evidence into a FailureClass (rules 1–6 in the module comment).
 * Deterministic: the same input always gives the same verdict.
 */
export function classifyFailure(input: ClassifyInput): Classification {
  const probes = input.probes ?? [];
  const at = input.stage === undefined ? '' : ` at stage ${input.stage}`;

  // Rule 1: the provider's status message.
  if (input.statusMsg !== undefined && input.statusMsg !== '') {
    const hit = findSignature([{ label: 'status_msg', text: input.statusMsg }]);
    if (hit !== undefined) return hit;
  }

  // Rule 2: an untruthful executor makes this round's host output untrustworthy.
  const badExecutor = executorFailed(probes);
  if (badExecutor !== undefined) {
    const dead = deadInstance(input.instanceStatus);
    if (dead !== undefined) return dead;
    return {
      class: 'UNKNOWN',
      reason: `the executor sanity probe failed${at} (${describeProbe(badExecutor)}); the host's output cannot be trusted yet`,
      evidence: bound(summarizeProbes([badExecutor])),
    };
  }

  // Rule 3: signatures in the host's own output (transport-failed probes are not evidence).
  const sources: Source[] = probes
    .filter((p) => p.transport_ok)
    .flatMap((p) => [
      { label: `probe ${p.name} stdout`, text: p.stdout },
      { label: `probe ${p.name} stderr`, text: p.stderr },
    ])
    .filter((s) => s.text !== '');
  if (input.logTail !== undefined && input.logTail !== '') sources.push({ label: 'log', text: input.logTail });
  const hit = findSignature(sources);
  if (hit !== undefined) return hit;

  // Rule 4: the provider says the instance is dead.
  const dead = deadInstance(input.instanceStatus, input.statusMsg);
  if (dead !== undefined) return dead;

  // Rule 5: startup progress and nothing fatal.
  if (input.logTail !== undefined) {
    const markers = extractMarkers(input.logTail);
    if (markers.length > 0) {
      return {
        class: 'WARMUP',
        reason: `the engine is starting${at} (last marker: ${markers[markers.length - 1]})`,
        evidence: bound(input.logTail.slice(-MAX_EVIDENCE_CHARS)),
      };
    }
  }

  // Rule 6: nothing to go on.
  const failed = probes.filter((p) => !p.ok);
  return {
    class: 'UNKNOWN',
    reason: failed.length > 0 ? `no known signature${at}; failing probes: ${failed.map((p) => p.name).join(', ')}` : `no known signature${at}`,
    evidence: bound(probes.length > 0 ? summarizeProbes(probes) : (input.logTail ?? '').slice(-MAX_EVIDENCE_CHARS)),
  };
}

function deadInstance(status: string | undefined, statusMsg?: string): Classification | undefined {
  if (status === undefined || !DEAD_INSTANCE_STATUSES.has(status.toLowerCase())) return undefined;
  return {
    class: 'INFRA_FATAL',
    reason: `the provider reports the instance ${status.toLowerCase()}`,
    evidence: bound(`instance status: ${status}${statusMsg === undefined || statusMsg === '' ? '' : `\nstatus_msg: ${statusMsg}`}`),
  };
}

/** The first signature (in table order) found in any source, with an excerpt around it. */
function findSignature(sources: readonly Source[]): Classification | undefined {
  if (sources.length === 0) return undefined;
  const lowered = sources.map((s) => s.text.toLowerCase());
  for (const sig of FAILURE_SIGNATURES) {
    for (let i = 0; i < sources.length; i++) {
      const idx = lowered[i]!.indexOf(sig.needle);
      if (idx >= 0) {
        const src = sources[i]!;
        return { class: sig.class, reason: `${sig.reason} (${src.label})`, evidence: excerpt(src.label, src.text, idx, sig.needle.length) };
      }
    }
  }
  return undefined;
}

/**
 * A bounded excerpt of `text` centred on the line holding `[index, index+len)`: the whole line,
 * then neighbouring lines alternately before and after while they fit in the budget. A line longer
 * than the budget is cut to a window around the match.
 */
export function excerpt(label: string, text: string, index: number, len: number, budget = MAX_EVIDENCE_CHARS): string {
  const header = `[${label}]\n`;
  const room = Math.max(0, budget - header.length);
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  const nl = text.indexOf('\n', index + len);
  const lineEnd = nl < 0 ? text.length : nl;
  const line = text.slice(lineStart, lineEnd);
  if (line.length >= room) {
    const from = Math.max(lineStart, Math.min(index - Math.floor((room - len) / 2), lineEnd - room));
    return header + text.slice(from, from + room);
  }
  const before = text.slice(0, lineStart).split('\n');
  before.pop(); // the empty piece after the newline that ends the previous line
  const after = lineEnd >= text.length ? [] : text.slice(lineEnd + 1).split('\n');
  const kept: string[] = [line];
  let used = line.length;
  let b = before.length - 1;
  let a = 0;
  let turn = 0;
  while (b >= 0 || a < after.length) {
    const takeBefore = (turn++ % 2 === 0 && b >= 0) || a >= after.length;
    const next = takeBefore ? before[b]! : after[a]!;
    if (used + next.length + 1 > room) break;
    if (takeBefore) {
      kept.unshift(next);
      b--;
    } else {
      kept.push(next);
      a++;
    }
    used += next.length + 1;
  }
  return header + kept.join('\n');
}

/** One line per probe: name, outcome, and the start of its output or error. */
export function summarizeProbes(probes: readonly ProbeResult[]): string {
  return probes
    .map((p) => {
      const out = (p.stderr !== '' ? p.stderr : p.stdout).trim().slice(0, 400);
      return `${p.name}: ${describeProbe(p)}${out === '' ? '' : ` | ${out}`}`;
    })
    .join('\n');
}

function describeProbe(p: ProbeResult): string {
  if (!p.transport_ok) return `transport failure${p.error === undefined ? '' : `: ${p.error}`}`;
  if (p.ok) return EXECUTOR_PROBES.has(p.name) && !p.stdout.includes(PROBE_OK_MARKER) ? `ok but no ${PROBE_OK_MARKER}` : 'ok';
  const kind = p.failure_kind ?? 'command';
  const code = p.exit_code === undefined ? '' : ` exit ${p.exit_code}`;
  const sig = p.signal === undefined ? '' : ` signal ${p.signal}`;
  return `${kind} failure${code}${sig}${p.error === undefined ? '' : `: ${p.error}`}`;
}

function bound(s: string): string {
  return s.length <= MAX_EVIDENCE_CHARS ? s : s.slice(0, MAX_EVIDENCE_CHARS);
}
