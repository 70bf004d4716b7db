import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FailureClass, ProbeResult, ReadinessStage } from '../../../src/protocols/index.js';
import { FAILURE_SIGNATURES, MAX_EVIDENCE_CHARS, classifyFailure, excerpt } from '../../../src/policy/classify.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const fixture = (name: string): string => readFileSync(FIXTURES + name, 'utf8');

function probe(name: string, over: Partial<ProbeResult> = {}): ProbeResult {
  return { name, command: name, ok: true, transport_ok: true, stdout: '', stderr: '', duration_ms: 5, ...over };
}
const executorOk = probe('executor', { command: "printf '__PROBE_OK__\\n'", stdout: '__PROBE_OK__\n' });

/** Every log/nvidia-smi fixture, its expected class and the line its evidence must show. */
const TABLE: Record<string, { class: FailureClass | 'not fatal'; line?: string }> = {
  'vllm_startup.log': { class: 'WARMUP' },
  'vllm_fail_no_gpu.log': { class: 'INFRA_FATAL', line: 'INFO 05-14 04:44:35 [__init__.py:243] No platform detected, vLLM is running on UnspecifiedPlatform' },
  'vllm_fail_bad_repo.log': {
    class: 'WORKLOAD_FATAL',
    line: '(APIServer pid=1) huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-69aa2f15-66396d560525c0fb463d8d99;dfa35b92-3bf1-4a7a-bf57-d4c1d6d4ae69)',
  },
  'vllm_fail_oom.log': { class: 'WORKLOAD_FATAL', line: 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB.' },
  'vllm_fail_kv_cache.log': { class: 'WORKLOAD_FATAL', line: 'KV cache is needed, which is larger than the available KV cache memory (8.04 GiB)' },
  'vllm_fail_port_in_use.log': { class: 'WORKLOAD_FATAL', line: '(APIServer pid=1) OSError: [Errno 98] Address already in use' },
  'nvidia_smi_fail_driver.txt': { class: 'INFRA_FATAL', line: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." },
  'nvidia_smi_fail_handle.txt': { class: 'INFRA_FATAL', line: 'Unable to determine the device handle for GPU0000:08:00.0: Unknown Error' },
  'nvidia_smi_fail_nvml.txt': { class: 'INFRA_FATAL', line: 'Failed to initialize NVML: Driver/library version mismatch' },
  'nvidia_smi_query_ok.txt': { class: 'not fatal' },
  'nvidia_smi_query_busy.txt': { class: 'not fatal' },
};

function classifyFixture(name: string): ReturnType<typeof classifyFailure> {
  const text = fixture(name);
  if (name.startsWith('nvidia_smi_')) {
    const failed = name.includes('_fail_');
    const gpu = probe('gpu', {
      command: 'nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,temperature.gpu --format=csv,noheader,nounits',
      ok: !failed,
      ...(failed ? { exit_code: 9, stderr: text } : { exit_code: 0, stdout: text }),
    });
    return classifyFailure({ stage: 'gpu', probes: [executorOk, gpu] });
  }
  return classifyFailure({ stage: 'port_bound', probes: [executorOk], logTail: text });
}

describe('classifyFailure - fixture table', () => {
  it('classify - the table covers every log and nvidia-smi fixture', () => {
    const files = readdirSync(FIXTURES).filter((f) => /^(vllm_.*\.log|nvidia_smi_.*\.txt)$/.test(f));
    expect(files.sort()).toEqual(Object.keys(TABLE).sort());
  });

  for (const [name, want] of Object.entries(TABLE)) {
    it(`classify - ${name} → ${want.class}`, () => {
      const got = classifyFixture(name);
      if (want.class === 'not fatal') {
        expect(['WARMUP', 'UNKNOWN']).toContain(got.class);
      } else {
        expect(got.class).toBe(want.class);
      }
      expect(got.evidence.length).toBeLessThanOrEqual(MAX_EVIDENCE_CHARS);
      if (want.line !== undefined) expect(got.evidence).toContain(want.line);
      expect(got.reason.length).toBeGreaterThan(0);
    });
  }

  it('classify - the no-GPU log names the root cause line too', () => {
    const got = classifyFixture('vllm_fail_no_gpu.log');
    expect(got.evidence).toContain('No platform detected');
  });

  it('classify - OOM evidence is centred on the first OOM line, with its neighbours', () => {
    const got = classifyFixture('vllm_fail_oom.log');
    expect(got.evidence).toContain('loaded_weights = model.load_weights');
    expect(got.evidence.startsWith('[log]')).toBe(true);
  });
});

describe('classifyFailure - rules', () => {
  const log = (text: string, extra: Parameters<typeof classifyFailure>[0] = {}): FailureClass =>
    classifyFailure({ probes: [executorOk], logTail: text, ...extra }).class;

  it('classify - each signature of the table proves its class on its own', () => {
    for (const sig of FAILURE_SIGNATURES) {
      expect(log(`INFO boot\nERROR something: ${sig.needle.toUpperCase()} here\n`), sig.needle).toBe(sig.class);
    }
  });

  it('classify - "Engine core initialization failed" alone is not incompatibility', () => {
    const tail = '(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}';
    expect(log(tail)).not.toBe('WORKLOAD_INCOMPATIBLE');
    const withCause = `ERROR [core.py:708] RuntimeError: CUDA driver version is insufficient for CUDA runtime version\n${tail}`;
    expect(log(withCause)).toBe('WORKLOAD_INCOMPATIBLE');
  });

  it('classify - the root cause wins over the engine-failure trailer and wrappers', () => {
    // cudaGetDeviceCount wraps the real reason; the incompatibility inside it wins.
    expect(log('RuntimeError: Unexpected error from cudaGetDeviceCount(). Error 35: CUDA driver version is insufficient for CUDA runtime version')).toBe('WORKLOAD_INCOMPATIBLE');
    expect(log('RuntimeError: Unexpected error from cudaGetDeviceCount(). Error 999: unknown error')).toBe('INFRA_FATAL');
    // A broken GPU explains an OOM-looking failure better than our config does.
    expect(log('torch.OutOfMemoryError: CUDA out of memory.\nNVRM: GPU 0000:01:00.0: GPU has fallen off the bus.')).toBe('INFRA_FATAL');
    expect(log('ValueError: Free memory on device cuda:0 (15.32/22.04 GiB) on startup is less than desired GPU memory utilization')).toBe('WORKLOAD_FATAL');
    expect(log('vllm: error: unrecognized arguments: --max-model-length 4096')).toBe('WORKLOAD_FATAL');
    expect(log('huggingface_hub.errors.GatedRepoError: 401 Client Error.')).toBe('WORKLOAD_FATAL');
  });

  it('classify - status_msg container errors and dead instances are INFRA_FATAL', () => {
    const oci = classifyFailure({ statusMsg: 'Error response from daemon: OCI runtime create failed: runc create failed', instanceStatus: 'created' });
    expect(oci.class).toBe('INFRA_FATAL');
    expect(oci.evidence).toContain('OCI runtime create failed');
    for (const status of ['exited', 'offline', 'unknown']) {
      expect(classifyFailure({ instanceStatus: status }).class).toBe('INFRA_FATAL');
    }
    expect(classifyFailure({ instanceStatus: 'running', statusMsg: 'success, running vllm/vllm-openai_latest/ssh' }).class).toBe('UNKNOWN');
  });

  it('classify - an exited container whose log shows our config error blames the config', () => {
    expect(classifyFailure({ instanceStatus: 'exited', probes: [executorOk], logTail: fixture('vllm_fail_bad_repo.log') }).class).toBe('WORKLOAD_FATAL');
  });

  it('classify - a failed executor sanity probe is UNKNOWN, whatever the rest of the output says', () => {
    const exec = probe('executor', { ok: false, exit_code: 1, stderr: 'bash: printf: broken' });
    const got = classifyFailure({ stage: 'executor', probes: [exec, probe('gpu', { ok: false, stderr: 'No devices were found' })], logTail: fixture('vllm_fail_oom.log') });
    expect(got.class).toBe('UNKNOWN');
    expect(got.evidence).toContain('executor');
    // An executor that "succeeds" without printing the marker is not truthful either.
    expect(classifyFailure({ probes: [probe('executor', { stdout: '' })] }).class).toBe('UNKNOWN');
    // But the provider's word still counts.
    expect(classifyFailure({ probes: [exec], instanceStatus: 'offline' }).class).toBe('INFRA_FATAL');
  });

  it('classify - output of a transport-failed probe is not evidence', () => {
    const dropped = probe('gpu', { ok: false, transport_ok: false, failure_kind: 'transport', error: 'connection lost', stdout: 'No devices were found' });
    expect(classifyFailure({ probes: [executorOk, dropped] }).class).toBe('UNKNOWN');
  });

  it('classify - startup progress without a fatal line is WARMUP; nothing at all is UNKNOWN', () => {
    expect(log('(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [gpu_model_runner.py:2602] Starting to load model Qwen/Qwen2.5-1.5B-Instruct...')).toBe('WARMUP');
    expect(classifyFailure({}).class).toBe('UNKNOWN');
    expect(classifyFailure({ logTail: 'hello\n', probes: [executorOk] }).class).toBe('UNKNOWN');
  });
});

describe('excerpt', () => {
  it('excerpt - keeps the matching line whole and stays within the budget', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(40)}`);
    lines[120] = 'THE MATCH';
    const text = lines.join('\n');
    const ex = excerpt('log', text, text.indexOf('THE MATCH'), 9);
    expect(ex.length).toBeLessThanOrEqual(MAX_EVIDENCE_CHARS);
    expect(ex).toContain('THE MATCH');
    expect(ex).toContain('line 119 ');
    expect(ex).toContain('line 121 ');
  });

  it('excerpt - cuts a huge line to a window around the match', () => {
    const text = `${'a'.repeat(5000)}NEEDLE${'b'.repeat(5000)}`;
    const ex = excerpt('log', text, 5000, 6);
    expect(ex.length).toBeLessThanOrEqual(MAX_EVIDENCE_CHARS);
    expect(ex).toContain('NEEDLE');
  });
});

describe('classifyFailure - properties', () => {
  const fixtureText = Object.keys(TABLE).map(fixture);
  const arbText = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.constantFrom(...fixtureText),
    fc.constantFrom(...FAILURE_SIGNATURES.map((s) => s.needle)),
  );
  const arbProbe = fc.record({
    name: fc.constantFrom('executor', 'gpu', 'logs', 'processes', 'models_8000'),
    command: fc.constant('cmd'),
    ok: fc.boolean(),
    transport_ok: fc.boolean(),
    stdout: arbText,
    stderr: arbText,
    duration_ms: fc.nat(),
  });
  const arbInput = fc.record(
    {
      stage: fc.constantFrom<ReadinessStage>('instance_running', 'ssh', 'executor', 'gpu', 'engine_process', 'port_bound', 'model_listed', 'generation'),
      probes: fc.array(arbProbe, { maxLength: 4 }),
      logTail: arbText,
      statusMsg: arbText,
      instanceStatus: fc.constantFrom('running', 'loading', 'exited', 'offline', 'created'),
    },
    { requiredKeys: [] },
  );

  it('classify - deterministic, bounded evidence', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const a = classifyFailure(input);
        const b = classifyFailure(structuredClone(input));
        expect(b).toEqual(a);
        expect(a.evidence.length).toBeLessThanOrEqual(MAX_EVIDENCE_CHARS);
      }),
    );
  });

  it('classify - transport-failed probes alone never yield a fatal class', () => {
    const dropped = arbProbe.map((p) => ({ ...p, transport_ok: false, ok: false, failure_kind: 'transport' as const }));
    fc.assert(
      fc.property(fc.array(dropped, { minLength: 1, maxLength: 5 }), (probes) => {
        const c = classifyFailure({ probes }).class;
        expect(['WARMUP', 'UNKNOWN']).toContain(c);
      }),
    );
  });
});
