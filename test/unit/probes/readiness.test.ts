import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENGINES, READINESS_STAGES, type ProbeResult } from '../../../src/protocols/index.js';
import { readinessAdapterFor, type ProbeExecutor, type ProbeRequest } from '../../../src/probes/index.js';

const STARTUP_LOG = readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'vllm_startup.log'), 'utf8');
const ctx = { model: 'Qwen/Qwen2.5-1.5B-Instruct', port: 8000 };

/** A scripted executor: answers by probe name and records what ran, in order. */
class ScriptedExecutor implements ProbeExecutor {
  readonly ran: ProbeRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly answers: Record<string, Partial<ProbeResult>>) {}

  async run(req: ProbeRequest): Promise<ProbeResult> {
    this.ran.push(req);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const over = this.answers[req.name] ?? {};
    return { name: req.name, command: req.command, ok: true, transport_ok: true, exit_code: 0, stdout: '', stderr: '', duration_ms: 1, ...over };
  }

  async close(): Promise<void> {}

  async disconnect(): Promise<void> {}
}

const transportLost: Partial<ProbeResult> = { ok: false, transport_ok: false, failure_kind: 'transport', exit_code: undefined, error: 'connection lost' };

describe('readiness adapters', () => {
  it('readiness adapters - there is one for each engine Drover runs on hosts', () => {
    for (const engine of ENGINES) {
      if (engine === 'triton' || engine === 'mock') expect(() => readinessAdapterFor(engine)).toThrow(/no readiness adapter/);
      else expect(readinessAdapterFor(engine).engine).toBe(engine);
    }
  });

  it('readiness adapters - instance_running and ssh are the HostActor’s and are refused', async () => {
    const exec = new ScriptedExecutor({});
    for (const stage of ['instance_running', 'ssh'] as const) await expect(readinessAdapterFor('vllm').observe(stage, exec, ctx)).rejects.toThrow(/HostActor/);
    expect(exec.ran).toEqual([]);
  });

  it('readiness adapters - the log is read after the stage probe, never beside it', async () => {
    const exec = new ScriptedExecutor({ processes: { stdout: '  187 python3 -m vllm.entrypoints.openai.api_server\n' } });
    const obs = await readinessAdapterFor('vllm').observe('engine_process', exec, ctx);
    expect(exec.ran.map((r) => r.name)).toEqual(['processes', 'logs']);
    expect(exec.maxInFlight).toBe(1);
    expect(obs.passed).toBe(true);
  });

  it('readiness adapters - the log tail is handed over as read; markers come from the probes only', async () => {
    const exec = new ScriptedExecutor({ [`health_${ctx.port}`]: { stdout: '000' }, logs: { stdout: STARTUP_LOG } });
    const obs = await readinessAdapterFor('vllm').observe('port_bound', exec, ctx);
    expect(obs.passed).toBe(false);
    expect(obs.logTail).toBe(STARTUP_LOG);
    // Reading startup markers out of the log is policy/progress.ts's job.
    expect(obs.markers).toEqual([]);
  });

  it('readiness adapters - a log probe that fails leaves logTail unset but keeps its result', async () => {
    const exec = new ScriptedExecutor({ processes: { stdout: '1 vllm serve x\n' }, logs: transportLost });
    const obs = await readinessAdapterFor('vllm').observe('engine_process', exec, ctx);
    expect(obs.logTail).toBeUndefined();
    expect(obs.probes.map((p) => p.name)).toEqual(['processes', 'logs']);
    expect(obs.markers).toEqual(['process_up']);
  });

  it('readiness adapters - no stage passes on a transport failure', async () => {
    for (const engine of ['vllm', 'llamacpp', 'tgi'] as const) {
      const exec = new ScriptedExecutor(new Proxy({}, { get: () => transportLost }));
      for (const stage of READINESS_STAGES.slice(2)) {
        const obs = await readinessAdapterFor(engine).observe(stage, exec, ctx);
        expect(obs.passed, `${engine} ${stage}`).toBe(false);
        expect(obs.markers).toEqual([]);
      }
    }
  });

  it('readiness adapters - engine_process needs a matching line, not just exit 0', async () => {
    const none = await readinessAdapterFor('vllm').observe('engine_process', new ScriptedExecutor({ processes: { ok: false, failure_kind: 'command', exit_code: 1 } }), ctx);
    expect(none.passed).toBe(false);
    const empty = await readinessAdapterFor('tgi').observe('engine_process', new ScriptedExecutor({ processes: { stdout: '\n' } }), ctx);
    expect(empty.passed).toBe(false);
  });

  it('readiness adapters - vLLM model_listed needs the exact served id and generation needs a choice', async () => {
    const adapter = readinessAdapterFor('vllm');
    const models = (ids: string[]) => ({ stdout: JSON.stringify({ object: 'list', data: ids.map((id) => ({ id, object: 'model' })) }) });
    expect((await adapter.observe('model_listed', new ScriptedExecutor({ models_8000: models([ctx.model]) }), ctx)).passed).toBe(true);
    expect((await adapter.observe('model_listed', new ScriptedExecutor({ models_8000: models(['Qwen/Qwen2.5-1.5B']) }), ctx)).passed).toBe(false);
    expect((await adapter.observe('model_listed', new ScriptedExecutor({ models_8000: { stdout: 'not json' } }), ctx)).passed).toBe(false);
    expect((await adapter.observe('generation', new ScriptedExecutor({ generation_8000: { stdout: '{"choices":[]}' } }), ctx)).passed).toBe(false);
    const gen = await adapter.observe('generation', new ScriptedExecutor({ generation_8000: { stdout: '{"choices":[{"index":0,"text":" Hi"}]}' } }), ctx);
    expect(gen.markers).toContain('generation_ok');
  });
});
