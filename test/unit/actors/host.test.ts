/**
 * HostActor - watching a ready host, with in-memory ports (provider, executor, readiness, engine,
 * KV, bus) and a virtual clock: which engine calls each check makes, and that an engine that dies
 * is still detected, examined and classified.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostBehavior, type HostReport } from '../../../src/actors/host.js';
import { startActorSystem } from '../../../src/actors/runtime.js';
import type { ActorSystem } from '../../../src/actors/types.js';
import { classifyFailure, DEFAULT_STAGE_DEADLINES_MS } from '../../../src/policy/index.js';
import { FleetPoolSchema, type HostRecord, type ProbeResult } from '../../../src/protocols/index.js';
import { FakeProvider, ScriptedEngine, fakeExecutor, fakeOffer, memoryKv, passingReadiness, probeResult, recordingBus, until } from '../../helpers/fleet-fakes.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';

const MODEL = 'Qwen/Qwen2.5-1.5B-Instruct';
const PROBE_MS = 2_000;
const IDLE_MS = 10_000;
const pool = FleetPoolSchema.parse({ kind: 'fleet', id: 'gpu', model: MODEL });
const GPU_PROBE = { name: 'gpu', command: 'nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,temperature.gpu --format=csv,noheader,nounits', timeoutMs: 10_000 };
const LOGS_PROBE = { name: 'logs', command: 'tail -c 16384 /tmp/vllm.log 2>/dev/null || true', timeoutMs: 10_000 };

let clock: VirtualClock;
let system: ActorSystem;
let engine: ScriptedEngine;
let provider: FakeProvider;
let reports: HostReport[];
/** Engine URLs the host let go of. */
let released: string[];
/** What the executor answers to the `gpu` probe of a host that stopped serving. */
let gpuProbe: Partial<ProbeResult>;

beforeEach(() => {
  clock = new VirtualClock();
  system = startActorSystem({ name: 'test', clock, log: pino({ level: 'silent' }) });
  engine = new ScriptedEngine('http://127.0.0.1:18001', [MODEL]);
  provider = new FakeProvider();
  reports = [];
  released = [];
  gpuProbe = {};
});

afterEach(async () => {
  await system.stop();
});

async function readyHost(): Promise<void> {
  const deps = {
    provider,
    bus: recordingBus().bus,
    hosts: memoryKv<HostRecord>('drover_hosts'),
    executorFor: () => fakeExecutor((req) => (req.name === 'gpu' ? gpuProbe : {})),
    readiness: passingReadiness,
    engineFor: () => engine,
    releaseEngine: (url: string) => void released.push(url),
    pool,
    nodeId: 'n1',
    deadlines: DEFAULT_STAGE_DEADLINES_MS,
    probeIntervalMs: PROBE_MS,
    idleCheckIntervalMs: IDLE_MS,
    labelPrefix: 'drover/n1/gpu/',
    report: (r: HostReport) => void reports.push(r),
  };
  system.spawn('host-h1', hostBehavior(deps, { kind: 'rent', host_id: 'h1', offer: fakeOffer(101) }), { kind: 'temporary' });
  await until(() => reports.some((r) => r.type === 'host.ready'), 'the host to be ready');
}

/** Runs the next check (the host's only timer) and waits until the engine saw `calls` calls in all. */
async function nextCheck(calls: number): Promise<void> {
  const due = clock.nextDue();
  if (due === undefined) throw new Error('no check scheduled');
  clock.advance(due - clock.now());
  await until(() => engine.calls.length >= calls && clock.pending() > 0, `${calls} engine calls`);
}

const inMs = (): number => (clock.nextDue() ?? Number.NaN) - clock.now();

describe('host - watching a ready host', () => {
  it('host - reads the model list at the first check after ready, then only /health and /metrics, idle or busy', async () => {
    await readyHost();
    expect(inMs()).toBe(PROBE_MS);
    await nextCheck(2);
    expect(engine.calls).toEqual(['health+models', 'metrics']);
    expect(inMs()).toBe(IDLE_MS);
    await nextCheck(3);
    await nextCheck(4);
    expect(engine.calls).toEqual(['health+models', 'metrics', 'health+metrics', 'health+metrics']);
    expect(reports.filter((r) => r.type === 'host.load')).toHaveLength(3);
    // A busy engine is checked at the probe interval, still without the model list.
    engine.load_ = { running: 2, waiting: 0, kv_usage: 0.1 };
    await nextCheck(5);
    expect(inMs()).toBe(PROBE_MS);
    await nextCheck(6);
    expect(engine.calls.slice(4)).toEqual(['health+metrics', 'health+metrics']);
  });

  it('host - an engine that dies is caught by the routine check, re-checked with the model list, examined and failed as before', async () => {
    gpuProbe = { ok: false, exit_code: 15, failure_kind: 'command', stdout: await readFile(new URL('../../fixtures/nvidia_smi_fail_handle.txt', import.meta.url), 'utf8') };
    await readyHost();
    await nextCheck(2);
    await nextCheck(3);
    engine.health503 = '503';
    await nextCheck(4);
    // One failed check is not yet a verdict: the next one comes within a second and reads the model list.
    expect(reports.some((r) => r.type === 'host.failed')).toBe(false);
    expect(inMs()).toBe(1_000);
    clock.advance(1_000);
    await until(() => reports.some((r) => r.type === 'host.failed'), 'the host to fail');
    expect(engine.calls).toEqual(['health+models', 'metrics', 'health+metrics', 'health+metrics', 'health+models']);
    // The verdict the policy gives on the evidence the host collected, and the error of the last check.
    const verdict = classifyFailure({ stage: 'generation', probes: [probeResult(GPU_PROBE, gpuProbe), probeResult(LOGS_PROBE)], logTail: '' });
    expect(verdict.class).toBe('INFRA_FATAL');
    expect(reports.find((r) => r.type === 'host.failed')).toMatchObject({
      destroyed: true,
      failure: { class: 'INFRA_FATAL', stage: 'generation', reason: `engine stopped answering while serving (/health answered 503); ${verdict.reason}` },
    });
    expect(provider.destroyed).toEqual(['i-1']);
    // The failed host lets go of its engine adapter (and the check connection it keeps).
    await until(() => released.length > 0, 'the host to release its engine');
    expect(released).toHaveLength(1);
  });

  it('host - after a failed check the model list is read again: an engine back with other weights fails the host', async () => {
    await readyHost();
    await nextCheck(2);
    engine.health503 = 'refused';
    await nextCheck(3);
    engine.health503 = 'up';
    engine.models = ['some/other-model'];
    clock.advance(1_000);
    await until(() => reports.some((r) => r.type === 'host.failed'), 'the host to fail');
    expect(engine.calls).toEqual(['health+models', 'metrics', 'health+metrics', 'health+models']);
    expect(reports.find((r) => r.type === 'host.failed')).toMatchObject({ failure: { reason: expect.stringMatching(/^engine stopped answering while serving \(not ready\)/) } });
  });

  it('host - one failed check is forgiven once the engine lists the model again, and checks go back to routine', async () => {
    await readyHost();
    await nextCheck(2);
    engine.health503 = 'refused';
    await nextCheck(3);
    engine.health503 = 'up';
    await nextCheck(5);
    expect(engine.calls).toEqual(['health+models', 'metrics', 'health+metrics', 'health+models', 'metrics']);
    await nextCheck(6);
    expect(engine.calls.at(-1)).toBe('health+metrics');
    expect(reports.some((r) => r.type === 'host.failed')).toBe(false);
  });
});
