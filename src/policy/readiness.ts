/**
 * Staged, fail-fast readiness (DESIGN §5, anchors (b)2): each readiness stage has its own
 * deadline, measured from the later of the stage's start and the last progress, so a dead host is
 * let go after minutes instead of one long grace period (SkyServe: 1200 s, dstack: 10 min), while a
 * host that keeps making progress — a big download, a long compile — is never cut off for being
 * slow. A fatal class visible now fails at once, whatever the deadline says.
 *
 * Pure: `now` comes in as an argument; the HostActor probes and calls this.
 */
import type { HostFailure, ProbeResult, ReadinessStage } from '../protocols/index.js';
import { classifyFailure, executorFailed, summarizeProbes, MAX_EVIDENCE_CHARS } from './classify.js';
import { STAGE_ORDER } from './progress.js';

/**
 * Default no-progress deadline of each stage (ms). Justified from the compute_orchestrator seed
 * (seed-projects §B: boot 600 s, SSH never ready 180 s, stall 600 s, vLLM startup_timeout 900 s,
 * probe timeouts 10–15 s) and anchors §2/§5:
 * - `instance_running` 600 s: the seed's boot budget; dstack's Vast provisioning timeout is also
 *   10 min, because the ~10 GB vLLM image is pulled before the instance reports running.
 * - `ssh` 180 s: the seed's "SSH never ready" limit; Vast hosts whose SSH never comes up are a known
 *   failure mode (SkyPilot #6514, #6449) and waiting longer only pays for a dead host.
 * - `executor` 60 s: `printf` answers in milliseconds; this is four of the seed's 15 s
 *   executor_echo timeouts.
 * - `gpu` 60 s: a healthy `nvidia-smi` answers at once; six of the seed's 10 s probe timeouts.
 *   A GPU that hangs nvidia-smi for a minute is not going to serve.
 * - `engine_process` 180 s: the onstart script launches the engine as soon as the container is up;
 *   same budget as SSH.
 * - `port_bound` 900 s: the seed's vLLM startup_timeout. Measured from the last progress, so it is
 *   900 s of *silence*; longer than the seed's generic 600 s stall because one large shard download
 *   or a torch.compile of a big model can print nothing new for many minutes.
 * - `model_listed` 120 s: once the port is bound the routes are already logged; `/v1/models`
 *   answers in seconds.
 * - `generation` 120 s: one 1-token request; the first one may trigger lazy warm-up.
 */
export const DEFAULT_STAGE_DEADLINES_MS: Record<ReadinessStage, number> = {
  instance_running: 600_000,
  ssh: 180_000,
  executor: 60_000,
  gpu: 60_000,
  engine_process: 180_000,
  port_bound: 900_000,
  model_listed: 120_000,
  generation: 120_000,
};


/** The stage after `stage`, or `ready` after the last one (`generation`). */
export function nextStage(stage: ReadinessStage): ReadinessStage | 'ready' {
  const i = STAGE_ORDER.indexOf(stage);
  return i < 0 || i + 1 >= STAGE_ORDER.length ? 'ready' : STAGE_ORDER[i + 1]!;
}

/** Default deadlines with a pool's or the fleet's overrides applied (config `stage_deadlines_ms`). */
export function resolveStageDeadlines(...overrides: ReadonlyArray<Partial<Record<ReadinessStage, number | undefined>> | undefined>): Record<ReadinessStage, number> {
  const out = { ...DEFAULT_STAGE_DEADLINES_MS };
  for (const o of overrides) {
    if (o === undefined) continue;
    for (const s of STAGE_ORDER) {
      const v = o[s];
      if (v !== undefined && Number.isFinite(v) && v > 0) out[s] = v;
    }
  }
  return out;
}

/** What the HostActor saw at the current stage. */
export interface ReadinessObservation {
  /** The stage's condition holds. */
  passed: boolean;
  probes: ProbeResult[];
  logTail?: string;
  statusMsg?: string;
  instanceStatus?: string;
}

/** Input of {@link decideReadiness}. */
export interface ReadinessInput {
  stage: ReadinessStage;
  stageStartedAt: number;
  lastProgressAt: number;
  now: number;
  deadlines: Record<ReadinessStage, number>;
  observation: ReadinessObservation;
}

/** Advance to the next stage (or ready), keep waiting (with why), or fail the host. */
export type ReadinessDecision =
  | { kind: 'advance'; to: ReadinessStage | 'ready' }
  | { kind: 'wait'; class: 'WARMUP' | 'UNKNOWN'; reason: string }
  | { kind: 'fail'; failure: HostFailure };

/** Probe names whose command failure (with a working transport) says the GPU or executor is bad. */
const GPU_PROBES: ReadonlySet<string> = new Set(['gpu']);

/**
 * A probe that ran (transport fine) and failed on the GPU check: nvidia-smi exiting non-zero or
 * hanging. Neither a transport failure nor a failed executor sanity probe is such evidence: when
 * `printf` itself cannot be trusted nothing the host says can (DESIGN §5: UNKNOWN, never a blacklist).
 */
function badHostProbe(probes: readonly ProbeResult[]): ProbeResult | undefined {
  if (executorFailed(probes.filter((p) => p.transport_ok)) !== undefined) return undefined;
  return probes.find((p) => p.transport_ok && !p.ok && (GPU_PROBES.has(p.name) || /\bnvidia-smi\b/.test(p.command)));
}

/**
 * The readiness decision for one observation:
 * 1. the stage passed → advance (to the next stage, or `ready` after `generation`);
 * 2. the classifier sees a fatal class now (INFRA_FATAL, WORKLOAD_INCOMPATIBLE, WORKLOAD_FATAL) →
 *    fail at once: waiting for the deadline would only pay for a host that cannot recover;
 * 3. no progress for longer than the stage's deadline, counted from
 *    `max(stageStartedAt, lastProgressAt)` → fail with the class the evidence supports:
 *    - `instance_running`: INFRA_FATAL — the provider never started the instance (seed: boot 600 s);
 *    - `ssh`: INFRA_FATAL — "SSH never came up" (seed: SSH never ready 180 s), even though each
 *      probe was a transport failure: it is the deadline, not one dropped connection, that decides;
 *    - any later stage with bad GPU evidence in this observation (nvidia-smi ran and failed, see
 *      `badHostProbe`) → INFRA_FATAL; a failed executor sanity probe is never such evidence;
 *    - otherwise UNKNOWN: the host is failed (destroyed and replaced) but UNKNOWN never
 *      blacklists — a hang with no verdict is not proof that the machine is bad;
 * 4. otherwise wait, with the classifier's class (WARMUP or UNKNOWN) and reason.
 */
export function decideReadiness(input: ReadinessInput): ReadinessDecision {
  const { stage, observation: obs } = input;
  if (obs.passed) return { kind: 'advance', to: nextStage(stage) };

  const verdict = classifyFailure({
    stage,
    probes: obs.probes,
    ...(obs.logTail === undefined ? {} : { logTail: obs.logTail }),
    ...(obs.statusMsg === undefined ? {} : { statusMsg: obs.statusMsg }),
    ...(obs.instanceStatus === undefined ? {} : { instanceStatus: obs.instanceStatus }),
  });
  if (verdict.class === 'INFRA_FATAL' || verdict.class === 'WORKLOAD_INCOMPATIBLE' || verdict.class === 'WORKLOAD_FATAL') {
    return { kind: 'fail', failure: { class: verdict.class, reason: verdict.reason, stage, evidence: verdict.evidence } };
  }

  const deadline = input.deadlines[stage] ?? DEFAULT_STAGE_DEADLINES_MS[stage];
  const since = Math.max(input.stageStartedAt, input.lastProgressAt);
  const silentMs = input.now - since;
  if (silentMs > deadline) {
    const waited = `${Math.round(silentMs / 1000)} s without progress (deadline ${Math.round(deadline / 1000)} s)`;
    const probeEvidence = obs.probes.length > 0 ? summarizeProbes(obs.probes) : '';
    const status = obs.instanceStatus === undefined ? '' : `instance status: ${obs.instanceStatus}${obs.statusMsg ? ` (${obs.statusMsg})` : ''}`;
    if (stage === 'instance_running') {
      return fail('INFRA_FATAL', `the instance never reached running: ${waited}`, stage, [status, probeEvidence]);
    }
    if (stage === 'ssh') {
      return fail('INFRA_FATAL', `SSH never came up: ${waited}`, stage, [status, probeEvidence]);
    }
    const bad = badHostProbe(obs.probes);
    if (bad !== undefined) {
      return fail('INFRA_FATAL', `the ${bad.name} probe kept failing on the host: ${waited}`, stage, [summarizeProbes([bad]), probeEvidence]);
    }
    return fail('UNKNOWN', `stage ${stage} made no progress: ${waited}; no verdict (${verdict.reason})`, stage, [verdict.evidence, probeEvidence]);
  }

  return { kind: 'wait', class: verdict.class, reason: verdict.reason };
}

function fail(cls: HostFailure['class'], reason: string, stage: ReadinessStage, evidence: string[]): ReadinessDecision {
  const text = [...new Set(evidence.filter((e) => e !== ''))].join('\n---\n');
  return { kind: 'fail', failure: { class: cls, reason, stage, evidence: text.slice(0, MAX_EVIDENCE_CHARS) } };
}
