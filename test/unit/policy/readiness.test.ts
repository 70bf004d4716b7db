import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { READINESS_STAGES, type ProbeResult, type ReadinessStage } from '../../../src/protocols/index.js';
import {
  DEFAULT_STAGE_DEADLINES_MS,
  decideReadiness,
  nextStage,
  resolveStageDeadlines,
  type ReadinessInput,
} from '../../../src/policy/readiness.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const fixture = (name: string): string => readFileSync(FIXTURES + name, 'utf8');

function probe(name: string, over: Partial<ProbeResult> = {}): ProbeResult {
  return { name, command: name, ok: true, transport_ok: true, stdout: '', stderr: '', duration_ms: 5, ...over };
}
const executorOk = probe('executor', { stdout: '__PROBE_OK__\n' });
const sshDown = probe('executor', { ok: false, transport_ok: false, failure_kind: 'transport', error: 'connect ECONNREFUSED' });

function input(stage: ReadinessStage, over: Partial<ReadinessInput['observation']> = {}, at: Partial<ReadinessInput> = {}): ReadinessInput {
  return {
    stage,
    stageStartedAt: 0,
    lastProgressAt: 0,
    now: 1_000,
    deadlines: DEFAULT_STAGE_DEADLINES_MS,
    observation: { passed: false, probes: [executorOk], ...over },
    ...at,
  };
}

describe('nextStage', () => {
  it('readiness - walks the protocol stages, then ready', () => {
    const walked: string[] = [];
    let s: ReadinessStage | 'ready' = 'instance_running';
    while (s !== 'ready') {
      walked.push(s);
      s = nextStage(s);
    }
    expect(walked).toEqual([...READINESS_STAGES]);
  });

  it('readiness - default deadlines follow the seed thresholds; overrides apply', () => {
    expect(DEFAULT_STAGE_DEADLINES_MS.instance_running).toBe(600_000);
    expect(DEFAULT_STAGE_DEADLINES_MS.ssh).toBe(180_000);
    expect(DEFAULT_STAGE_DEADLINES_MS.port_bound).toBe(900_000);
    const d = resolveStageDeadlines({ ssh: 90_000 }, undefined, { gpu: 30_000, executor: undefined });
    expect(d.ssh).toBe(90_000);
    expect(d.gpu).toBe(30_000);
    expect(d.executor).toBe(60_000);
  });
});

describe('decideReadiness', () => {
  it('readiness - passed advances, even late', () => {
    expect(decideReadiness(input('gpu', { passed: true }))).toEqual({ kind: 'advance', to: 'engine_process' });
    expect(decideReadiness(input('generation', { passed: true }, { now: 10_000_000 }))).toEqual({ kind: 'advance', to: 'ready' });
  });

  it('readiness - a fatal class fails at once, long before the deadline', () => {
    const oom = decideReadiness(input('port_bound', { logTail: fixture('vllm_fail_oom.log') }, { now: 5_000 }));
    expect(oom.kind).toBe('fail');
    if (oom.kind !== 'fail') return;
    expect(oom.failure.class).toBe('WORKLOAD_FATAL');
    expect(oom.failure.stage).toBe('port_bound');
    expect(oom.failure.evidence).toContain('CUDA out of memory');

    const gpu = decideReadiness(input('gpu', { probes: [executorOk, probe('gpu', { ok: false, exit_code: 9, stdout: fixture('nvidia_smi_fail_driver.txt') })] }));
    expect(gpu.kind === 'fail' && gpu.failure.class).toBe('INFRA_FATAL');

    const oci = decideReadiness(input('instance_running', { probes: [], instanceStatus: 'created', statusMsg: 'Error response from daemon: failed to create task for container' }));
    expect(oci.kind === 'fail' && oci.failure.class).toBe('INFRA_FATAL');
  });

  it('readiness - warming within the deadline waits with WARMUP', () => {
    const tail = fixture('vllm_startup.log').split('\n').slice(0, 20).join('\n');
    const d = decideReadiness(input('port_bound', { logTail: tail }, { now: 800_000 }));
    expect(d).toMatchObject({ kind: 'wait', class: 'WARMUP' });
  });

  it('readiness - the deadline counts from the last progress, not the stage start', () => {
    const tail = 'INFO Starting to load model x...';
    const late = { stageStartedAt: 0, lastProgressAt: 500_000, now: 1_300_000 };
    expect(decideReadiness(input('port_bound', { logTail: tail }, late)).kind).toBe('wait');
    expect(decideReadiness(input('port_bound', { logTail: tail }, { ...late, now: 1_400_001 })).kind).toBe('fail');
    // Exactly at the deadline still waits.
    expect(decideReadiness(input('port_bound', { logTail: tail }, { ...late, now: 1_400_000 })).kind).toBe('wait');
  });

  it('readiness - instance never running → INFRA_FATAL at the deadline', () => {
    const obs = { probes: [], instanceStatus: 'loading' };
    expect(decideReadiness(input('instance_running', obs, { now: 599_000 })).kind).toBe('wait');
    const d = decideReadiness(input('instance_running', obs, { now: 600_001 }));
    expect(d.kind === 'fail' && d.failure.class).toBe('INFRA_FATAL');
  });

  it('readiness - SSH never came up → INFRA_FATAL at the deadline, UNKNOWN wait before it', () => {
    const before = decideReadiness(input('ssh', { probes: [sshDown], instanceStatus: 'running' }, { now: 179_000 }));
    expect(before).toMatchObject({ kind: 'wait', class: 'UNKNOWN' });
    const after = decideReadiness(input('ssh', { probes: [sshDown], instanceStatus: 'running' }, { now: 180_001 }));
    expect(after.kind).toBe('fail');
    if (after.kind !== 'fail') return;
    expect(after.failure.class).toBe('INFRA_FATAL');
    expect(after.failure.reason).toContain('SSH never came up');
    expect(after.failure.evidence).toContain('ECONNREFUSED');
  });

  it('readiness - a hang with bad GPU evidence → INFRA_FATAL at the deadline', () => {
    const hung = probe('gpu', { command: 'nvidia-smi --query-gpu=name', ok: false, failure_kind: 'timeout', error: 'timed out after 10000 ms' });
    expect(decideReadiness(input('gpu', { probes: [executorOk, hung] }, { now: 30_000 }))).toMatchObject({ kind: 'wait', class: 'UNKNOWN' });
    const d = decideReadiness(input('gpu', { probes: [executorOk, hung] }, { now: 60_001 }));
    expect(d.kind === 'fail' && d.failure.class).toBe('INFRA_FATAL');
  });

  it('readiness - a failing executor sanity probe is UNKNOWN even at the deadline (DESIGN §5: never a blacklist)', () => {
    const badExec = probe('executor', { ok: false, exit_code: 126, stderr: 'exec format error' });
    const e = decideReadiness(input('executor', { probes: [badExec] }, { now: 60_001 }));
    expect(e.kind === 'fail' && e.failure.class).toBe('UNKNOWN');
    // Nor does a GPU failure seen through an untrusted executor count as evidence.
    const hung = probe('gpu', { command: 'nvidia-smi --query-gpu=name', ok: false, failure_kind: 'timeout' });
    const g = decideReadiness(input('gpu', { probes: [badExec, hung] }, { now: 60_001 }));
    expect(g.kind === 'fail' && g.failure.class).toBe('UNKNOWN');
  });

  it('readiness - a hang with no verdict fails UNKNOWN at the deadline (never blacklists)', () => {
    const tail = 'INFO Starting to load model x...';
    const d = decideReadiness(input('port_bound', { logTail: tail }, { now: 900_001 }));
    expect(d.kind).toBe('fail');
    if (d.kind !== 'fail') return;
    expect(d.failure.class).toBe('UNKNOWN');
    expect(d.failure.evidence.length).toBeLessThanOrEqual(2_000);
    // A transport failure on the gpu probe past the deadline is not bad GPU evidence.
    const dropped = probe('gpu', { command: 'nvidia-smi', ok: false, transport_ok: false, failure_kind: 'transport' });
    const g = decideReadiness(input('engine_process', { probes: [executorOk, dropped] }, { now: 180_001 }));
    expect(g.kind === 'fail' && g.failure.class).toBe('UNKNOWN');
  });

  it('readiness - properties: passed always advances; a fail before the deadline is always a fatal class', () => {
    const stages = fc.constantFrom<ReadinessStage>(...READINESS_STAGES);
    const tails = fc.constantFrom('', 'INFO Starting to load model x', fixture('vllm_fail_oom.log'), fixture('vllm_startup.log'), 'garbage');
    fc.assert(
      fc.property(stages, fc.boolean(), tails, fc.nat(2_000_000), fc.nat(2_000_000), fc.boolean(), (stage, passed, logTail, start, now, transportOk) => {
        const probes = [probe('executor', { ok: transportOk, transport_ok: transportOk, stdout: transportOk ? '__PROBE_OK__' : '' })];
        const d = decideReadiness({ stage, stageStartedAt: start, lastProgressAt: start, now, deadlines: DEFAULT_STAGE_DEADLINES_MS, observation: { passed, probes, logTail } });
        if (passed) expect(d.kind).toBe('advance');
        if (d.kind === 'fail' && now - start <= DEFAULT_STAGE_DEADLINES_MS[stage]) {
          expect(['INFRA_FATAL', 'WORKLOAD_INCOMPATIBLE', 'WORKLOAD_FATAL']).toContain(d.failure.class);
        }
        if (d.kind === 'fail') expect(d.failure.class).not.toBe('WARMUP');
      }),
    );
  });
});
