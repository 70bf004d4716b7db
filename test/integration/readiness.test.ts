import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReadinessStage } from '../../src/protocols/index.js';
import {
  createSshExecutor,
  LlamaCppReadinessAdapter,
  readinessAdapterFor,
  TgiReadinessAdapter,
  VllmReadinessAdapter,
  type ProbeExecutor,
} from '../../src/probes/index.js';
import { startSimEngine, type SimEngine } from '../../src/sim/index.js';
import { closedPort, startSshd, type TestSshd } from '../helpers/sshd.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
// A model id that would break any command built by string concatenation.
const MODEL = `org/it's "a" $(touch /tmp/drover-pwned) \`id\` model`;
const WALK: ReadinessStage[] = ['executor', 'gpu', 'engine_process', 'port_bound', 'model_listed', 'generation'];

let sshd: TestSshd;
let exec: ProbeExecutor;
let binDir: string;
let engine: SimEngine;
let logPath: string;
const children: ChildProcess[] = [];

/** Installs a fake `nvidia-smi` on the host's PATH that prints `fixture` and exits with `code`. */
async function fakeNvidiaSmi(fixture: string, code: number): Promise<void> {
  const path = join(binDir, 'nvidia-smi');
  await writeFile(path, `#!/bin/sh\ncat '${join(FIXTURES, fixture)}'\nexit ${code}\n`);
  await chmod(path, 0o755);
}

/** Starts a process whose command line looks like `cmdline` to `ps` (argv[0] is rewritten). */
function fakeProcess(cmdline: string): ChildProcess {
  const child = spawn('sleep', ['600'], { argv0: cmdline, stdio: 'ignore' });
  children.push(child);
  return child;
}

beforeAll(async () => {
  // The "host's" own tools (a fake nvidia-smi) come first on the PATH of every SSH session.
  binDir = await mkdtemp(join(tmpdir(), 'drover-test-host-bin-'));
  sshd = await startSshd({ setEnv: { PATH: `${binDir}:/usr/local/bin:/usr/bin:/bin` } });
  exec = createSshExecutor(sshd.target(), pino({ level: 'silent' }));
  engine = await startSimEngine({ model: MODEL });
  // A log path with a quote, a space and a `$(…)` in it, to show the path is quoted too.
  logPath = join(sshd.dir, "engine log's $(x).log");
  await fakeNvidiaSmi('nvidia_smi_query_ok.txt', 0);
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  await exec?.close();
  await engine?.close();
  await sshd?.stop();
  if (binDir !== undefined) await rm(binDir, { recursive: true, force: true });
});
beforeEach((ctx) => {
  ctx.onTestFailed(() => console.error(`--- sshd output ---\n${sshd?.output() ?? ''}\n--- end of sshd output ---`));
});

describe('readiness', () => {
  it('readiness - vLLM walks every stage to generation against a real sshd and a simulated engine', async () => {
    const adapter = new VllmReadinessAdapter({ logPath });
    await writeFile(logPath, await readFile(join(FIXTURES, 'vllm_startup.log')));
    const proc = fakeProcess('python3 -m vllm.entrypoints.openai.api_server --model x');
    const before = engine.stats().requestsTotal;
    const ctx = { model: MODEL, port: engine.port };
    const seen: Record<string, string[]> = {};
    for (const stage of WALK) {
      const obs = await adapter.observe(stage, exec, ctx);
      expect(obs.stage).toBe(stage);
      expect(obs.passed, `${stage}: ${JSON.stringify(obs.probes)}`).toBe(true);
      seen[stage] = obs.markers;
      if (stage === 'executor' || stage === 'gpu') expect(obs.logTail).toBeUndefined();
      else expect(obs.logTail).toContain('Application startup complete.');
    }
    expect(seen.executor).toEqual(['executor_ok']);
    expect(seen.gpu).toEqual(['gpu_ok']);
    expect(seen.engine_process).toEqual(['process_up']);
    expect(seen.port_bound).toEqual(['port_bound']);
    expect(seen.model_listed).toEqual(['model_listed']);
    expect(seen.generation).toEqual(['generation_ok']);
    expect(engine.stats().requestsTotal).toBe(before + 1);
    const processes = await adapter.observe('engine_process', exec, ctx);
    expect(processes.probes[0]?.stdout).toContain(String(proc.pid));
    expect(existsSync('/tmp/drover-pwned')).toBe(false);
  });

  it('readiness - stages from engine_process on read the engine log tail; executor and gpu do not', async () => {
    const adapter = new VllmReadinessAdapter({ logPath });
    const log = `${'x'.repeat(20_000)}\nINFO Loading weights took 0.71 seconds\n`;
    await writeFile(logPath, log);
    const gpu = await adapter.observe('gpu', exec, { model: MODEL, port: engine.port });
    expect(gpu.logTail).toBeUndefined();
    expect(gpu.probes).toHaveLength(1);
    const obs = await adapter.observe('port_bound', exec, { model: MODEL, port: engine.port });
    expect(obs.probes.map((p) => p.name)).toEqual([`health_${engine.port}`, 'logs']);
    expect(obs.logTail).toBe(log.slice(-16_384));
  });

  it('readiness - a missing engine log reads as an empty tail, not a failure', async () => {
    const obs = await new VllmReadinessAdapter({ logPath: join(sshd.dir, 'nope.log') }).observe('port_bound', exec, { model: MODEL, port: engine.port });
    expect(obs.logTail).toBe('');
    expect(obs.probes[1]).toMatchObject({ ok: true, name: 'logs' });
  });

  it('readiness - nvidia-smi failing with the driver message fails the gpu stage with the evidence', async () => {
    await fakeNvidiaSmi('nvidia_smi_fail_driver.txt', 9);
    try {
      const obs = await readinessAdapterFor('vllm').observe('gpu', exec, { model: MODEL, port: engine.port });
      expect(obs.passed).toBe(false);
      expect(obs.markers).toEqual([]);
      expect(obs.probes[0]).toMatchObject({ name: 'gpu', ok: false, transport_ok: true, failure_kind: 'command', exit_code: 9 });
      expect(obs.probes[0]?.stdout).toContain("couldn't communicate with the NVIDIA driver");
    } finally {
      await fakeNvidiaSmi('nvidia_smi_query_ok.txt', 0);
    }
  });

  it('readiness - vLLM port_bound: a refused connection is not a failed probe, just not passed; /health 503 is not ready', async () => {
    const adapter = new VllmReadinessAdapter({ logPath });
    const refused = await adapter.observe('port_bound', exec, { model: MODEL, port: await closedPort() });
    expect(refused.passed).toBe(false);
    expect(refused.probes[0]).toMatchObject({ ok: true, transport_ok: true, stdout: '000' });
    await engine.setFaults({ engineDead: true });
    try {
      const dead = await adapter.observe('port_bound', exec, { model: MODEL, port: engine.port });
      expect(dead.passed).toBe(false);
      expect(dead.probes[0]?.stdout).toBe('503');
    } finally {
      await engine.setFaults({ engineDead: false });
    }
  });

  it('readiness - vLLM model_listed and generation fail for a model the engine does not serve', async () => {
    const adapter = new VllmReadinessAdapter({ logPath });
    const ctx = { model: 'org/other-model', port: engine.port };
    const listed = await adapter.observe('model_listed', exec, ctx);
    expect(listed.passed).toBe(false);
    expect(listed.probes[0]?.ok).toBe(true);
    const generated = await adapter.observe('generation', exec, ctx);
    expect(generated.passed).toBe(false);
    expect(generated.probes[0]).toMatchObject({ ok: false, failure_kind: 'command', exit_code: 22 });
  });

  it('readiness - llama.cpp: the port answers 503 while loading, then health, models and /completion pass', async () => {
    const fake = await startFakeServer((req, res, body) => {
      const loading = fake.state === 'loading';
      if (req.url === '/health') return json(res, loading ? 503 : 200, loading ? { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } } : { status: 'ok' });
      if (loading) return json(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
      if (req.url === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: '/models/qwen2.5-0.5b-instruct-q4_k_m.gguf', object: 'model' }] });
      const parsed = JSON.parse(body) as { n_predict?: number };
      if (req.url === '/completion' && parsed.n_predict === 1) return json(res, 200, { content: ' Hi', stop: true, tokens_predicted: 1 });
      return json(res, 404, { error: { code: 404, message: 'not found', type: 'not_found_error' } });
    });
    try {
      const adapter = new LlamaCppReadinessAdapter({ logPath });
      const ctx = { model: 'qwen2.5-0.5b-instruct-q4_k_m', port: fake.port };
      fakeProcess('llama-server -m /models/qwen2.5-0.5b-instruct-q4_k_m.gguf --port 8080');
      expect((await adapter.observe('engine_process', exec, ctx)).passed).toBe(true);
      const loadingPort = await adapter.observe('port_bound', exec, ctx);
      expect(loadingPort.passed).toBe(true);
      expect(loadingPort.markers).toEqual(expect.arrayContaining(['port_bound', 'model_loading']));
      expect((await adapter.observe('model_listed', exec, ctx)).passed).toBe(false);
      fake.state = 'ready';
      const listed = await adapter.observe('model_listed', exec, ctx);
      expect(listed.passed).toBe(true);
      expect(listed.markers).toEqual(expect.arrayContaining(['health_ok', 'model_listed']));
      expect((await adapter.observe('generation', exec, ctx)).markers).toContain('generation_ok');
    } finally {
      await fake.stop();
    }
  });

  it('readiness - TGI: refused until the router is up, then /health, /info and /generate pass', async () => {
    const adapter = new TgiReadinessAdapter({ logPath });
    expect((await adapter.observe('port_bound', exec, { model: MODEL, port: await closedPort() })).passed).toBe(false);
    const fake = await startFakeServer((req, res, body) => {
      if (req.url === '/health') return json(res, 200, {});
      if (req.url === '/info') return json(res, 200, { model_id: MODEL, max_total_tokens: 4096 });
      const parsed = JSON.parse(body) as { parameters?: { max_new_tokens?: number } };
      if (req.url === '/generate' && parsed.parameters?.max_new_tokens === 1) return json(res, 200, { generated_text: ' Hi' });
      return json(res, 404, { error: 'not found' });
    });
    try {
      const ctx = { model: MODEL, port: fake.port };
      fakeProcess('text-generation-launcher --model-id x --port 8080');
      expect((await adapter.observe('engine_process', exec, ctx)).passed).toBe(true);
      expect((await adapter.observe('port_bound', exec, ctx)).markers).toContain('port_bound');
      expect((await adapter.observe('model_listed', exec, ctx)).markers).toContain('model_listed');
      expect((await adapter.observe('model_listed', exec, { ...ctx, model: 'other' })).passed).toBe(false);
      expect((await adapter.observe('generation', exec, ctx)).markers).toContain('generation_ok');
    } finally {
      await fake.stop();
    }
  });
});

interface FakeServer {
  port: number;
  state: string;
  stop(): Promise<void>;
}

async function startFakeServer(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<FakeServer> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s: string) => (body += s));
    req.on('end', () => handle(req, res, body === '' ? '{}' : body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return {
    port: addr.port,
    state: 'loading',
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
