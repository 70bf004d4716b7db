import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdapterCache } from '../../src/actors/adapters.js';
import { EngineError, VllmAdapter, type EngineChunk, type EngineRequest } from '../../src/engines/index.js';
import { startSimEngine, type SimEngine } from '../../src/sim/index.js';
import { OPENAI_FIXTURES, readFixture } from '../helpers/openai-fixtures.js';
import { waitFor } from '../helpers/wait-for.js';

const MODEL = 'Qwen/Qwen2.5-1.5B-Instruct';

/** Collects a whole stream; returns what arrived and the EngineError that ended it, if any. */
async function collect(
  adapter: VllmAdapter,
  req: EngineRequest,
  opts: { signal?: AbortSignal; idleTimeoutMs?: number; onToken?: (count: number) => void } = {},
): Promise<{ steps: EngineChunk[][]; chunks: EngineChunk[]; tokens: string[]; error: EngineError | undefined }> {
  const steps: EngineChunk[][] = [];
  const chunks: EngineChunk[] = [];
  const tokens: string[] = [];
  try {
    const streamOpts = opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs };
    for await (const step of adapter.stream(req, opts.signal ?? new AbortController().signal, streamOpts)) {
      steps.push([...step]);
      for (const chunk of step) {
        chunks.push(chunk);
        if (chunk.type === 'token') {
          tokens.push(chunk.text);
          opts.onToken?.(tokens.length);
        }
      }
    }
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    return { steps, chunks, tokens, error };
  }
  return { steps, chunks, tokens, error: undefined };
}

/** A server that answers every request with a fixed status and body bytes. */
async function startBytesServer(status: number, body: Buffer | string, contentType = 'text/event-stream'): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/**
 * A server that streams the usage fixture in two writes: its first `firstEvents` events at once, the
 * rest when the test calls `sendRest`.
 */
async function startTwoWriteServer(firstEvents: number): Promise<{ url: string; server: Server; sendRest: () => void }> {
  const events = readFixture('completions_stream_with_usage.sse').toString('utf8').split(/(?<=\n\n)/);
  let sendRest: () => void = () => undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(events.slice(0, firstEvents).join(''));
      sendRest = () => res.end(events.slice(firstEvents).join(''));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, sendRest: () => sendRest() };
}

async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('vllm adapter - fixtures served byte for byte', () => {
  for (const [name, expected] of Object.entries(OPENAI_FIXTURES)) {
    it(`vllm adapter - ${name} streams its tokens and end`, async () => {
      const { url, server } = await startBytesServer(200, readFixture(name));
      const adapter = new VllmAdapter(url);
      try {
        const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 8 });
        expect(result.tokens).toEqual(expected.tokens);
        if (expected.end !== undefined) {
          expect(result.error).toBeUndefined();
          expect(result.chunks.at(-1)).toEqual({ type: 'end', ...expected.end });
        } else {
          expect(result.error?.kind).toBe('stream');
          expect(result.error?.message).toContain(expected.error?.messageIncludes);
        }
      } finally {
        await adapter.close();
        await stopServer(server);
      }
    });
  }

  it('vllm adapter - a base URL with a path keeps it: the stream goes to <path>/v1/completions', async () => {
    const body = readFixture('completions_stream.sse');
    const paths: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      paths.push(req.url);
      req.resume();
      req.on('end', () => {
        res.writeHead(req.url === '/engine-7/v1/completions' ? 200 : 404, { 'content-type': 'text/event-stream' });
        res.end(body);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const adapter = new VllmAdapter(`http://127.0.0.1:${(server.address() as AddressInfo).port}/engine-7/`);
    try {
      const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 8 });
      expect(paths).toEqual(['/engine-7/v1/completions']);
      expect(result.error).toBeUndefined();
      expect(result.tokens).toEqual([' Paris', '.']);
    } finally {
      await adapter.close();
      await stopServer(server);
    }
  });

  it('vllm adapter - a body that ends without [DONE] is disconnected', async () => {
    const text = readFixture('completions_stream.sse').toString('utf8').replace('data: [DONE]\n\n', '');
    const { url, server } = await startBytesServer(200, text);
    const adapter = new VllmAdapter(url);
    try {
      const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 8 });
      expect(result.tokens).toEqual([' Paris', '.']);
      expect(result.error?.kind).toBe('disconnected');
    } finally {
      await adapter.close();
      await stopServer(server);
    }
  });

  it('vllm adapter - no token after abort: the engine\'s next write is not handed out', async () => {
    const { url, server, sendRest } = await startTwoWriteServer(3);
    const adapter = new VllmAdapter(url);
    try {
      const controller = new AbortController();
      const onToken = (n: number): void => {
        if (n !== 1) return;
        sendRest();
        controller.abort();
      };
      const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 8 }, { signal: controller.signal, onToken });
      // The step being handled when the abort came is the consumer's; nothing after it is.
      expect(result.tokens).toEqual([' Paris', '.', ' It']);
      expect(result.error?.kind).toBe('aborted');
    } finally {
      await adapter.close();
      await stopServer(server);
    }
  });

  it('vllm adapter - what the engine sent in one write is one step, its last token marked burstEnd', async () => {
    const { url, server, sendRest } = await startTwoWriteServer(3);
    const adapter = new VllmAdapter(url);
    try {
      const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 8 }, { onToken: (n) => n === 3 && sendRest() });
      expect(result.error).toBeUndefined();
      expect(result.tokens).toEqual(OPENAI_FIXTURES['completions_stream_with_usage.sse']?.tokens);
      expect(result.steps[0]).toEqual([
        { type: 'token', text: ' Paris' },
        { type: 'token', text: '.' },
        { type: 'token', text: ' It', burstEnd: true },
      ]);
      expect(result.steps.every((step) => step.length > 0)).toBe(true);
    } finally {
      await adapter.close();
      await stopServer(server);
    }
  });

  const errorBodies = [
    ['nested', 404, '{"error":{"message":"The model `foo` does not exist.","type":"NotFoundError","param":"model","code":404}}', 'NotFoundError: The model `foo` does not exist.'],
    ['flat', 400, '{"object":"error","message":"max_tokens must be at least 1, got 0.","type":"BadRequestError","param":null,"code":400}', 'BadRequestError: max_tokens must be at least 1, got 0.'],
    ['plain', 502, 'Bad Gateway', 'Bad Gateway'],
  ] as const;
  for (const [form, status, body, message] of errorBodies) {
    it(`vllm adapter - a ${status} with a ${form} error body is http with status, body and message`, async () => {
      const { url, server } = await startBytesServer(status, body, 'application/json');
      const adapter = new VllmAdapter(url);
      try {
        const result = await collect(adapter, { model: 'foo', prompt: 'x', max_tokens: 8 });
        expect(result.error?.kind).toBe('http');
        expect(result.error?.status).toBe(status);
        expect(result.error?.body).toBe(body);
        expect(result.error?.message).toContain(message);
      } finally {
        await adapter.close();
        await stopServer(server);
      }
    });
  }
});

describe('vllm adapter - against the simulated engine', () => {
  let sim: SimEngine;
  let adapter: VllmAdapter;

  beforeAll(async () => {
    sim = await startSimEngine({ model: MODEL, maxNumSeqs: 4 });
    adapter = new VllmAdapter(sim.url);
  });
  afterEach(async () => {
    await sim.setFaults({
      refuse: false,
      failBeforeFirstToken: undefined,
      dieAfterTokens: undefined,
      errorAfterTokens: undefined,
      slowFactor: undefined,
      hang: undefined,
      engineDead: undefined,
    });
    await waitFor('the engine to be idle', () => sim.stats().running === 0 && sim.stats().waiting === 0);
  });
  afterAll(async () => {
    await adapter.close();
    await sim.close();
  });

  it('vllm adapter - yields exactly max_tokens tokens, then end with length and usage', async () => {
    const result = await collect(adapter, { model: MODEL, prompt: 'The capital of France is', max_tokens: 37, seed: 7 });
    expect(result.error).toBeUndefined();
    expect(result.tokens).toHaveLength(37);
    expect(result.chunks.at(-1)).toEqual({ type: 'end', finish_reason: 'length', usage: { prompt_tokens: 5, completion_tokens: 37 } });
  });

  it('vllm adapter - streamed tokens concatenate to the non-stream text for the same seed', async () => {
    const prompt = 'Tell me about the fleet';
    const streamed = await collect(adapter, { model: MODEL, prompt, max_tokens: 24, seed: 42 });
    const response = await request(`${sim.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt, max_tokens: 24, seed: 42 }),
    });
    const whole = (await response.body.json()) as { choices: { text: string }[] };
    expect(streamed.tokens.join('')).toBe(whole.choices[0]?.text);
    const otherSeed = await collect(adapter, { model: MODEL, prompt, max_tokens: 24, seed: 43 });
    expect(otherSeed.tokens.join('')).not.toBe(streamed.tokens.join(''));
  });

  it('vllm adapter - health is ready with the model and max_model_len; load reads /metrics', async () => {
    expect(await adapter.health()).toEqual({ live: true, ready: true, models: [MODEL], max_model_len: 2048 });
    expect(await adapter.load()).toEqual({ running: 0, waiting: 0, kv_usage: 0 });
  });

  it('vllm adapter - load sees running and waiting sequences and KV usage', async () => {
    const busy = await startSimEngine({ model: MODEL, ttftMs: 60_000, maxNumSeqs: 4 });
    const busyAdapter = new VllmAdapter(busy.url);
    const controllers = Array.from({ length: 6 }, () => new AbortController());
    const streams = controllers.map((c) => collect(busyAdapter, { model: MODEL, prompt: 'wait', max_tokens: 4 }, { signal: c.signal }));
    try {
      await waitFor('4 running and 2 waiting', () => busy.stats().running === 4 && busy.stats().waiting === 2);
      expect(await busyAdapter.load()).toEqual({ running: 4, waiting: 2, kv_usage: 1 });
    } finally {
      for (const c of controllers) c.abort();
      expect((await Promise.all(streams)).map((r) => r.error?.kind)).toEqual(Array(6).fill('aborted'));
      await waitFor('the engine to be idle', () => busy.stats().running === 0 && busy.stats().waiting === 0);
      await busyAdapter.close();
      await busy.close();
    }
  });

  it('vllm adapter - health reports a dead engine as live but not ready, and a refused one as not live', async () => {
    await sim.setFaults({ engineDead: true });
    expect(await adapter.health()).toMatchObject({ live: true, ready: false, error: '/health answered 503' });
    await sim.setFaults({ engineDead: false, refuse: true });
    expect(await adapter.health()).toMatchObject({ live: false, ready: false });
    await expect(adapter.load()).rejects.toMatchObject({ kind: 'connect' });
    await sim.setFaults({ refuse: false });
    expect((await adapter.health()).ready).toBe(true);
  });

  it('vllm adapter - check reads /health then /metrics; a dead engine is live but unhealthy, a refused one not live', async () => {
    const fresh = new VllmAdapter(sim.url);
    try {
      expect(await fresh.check()).toEqual({ live: true, healthy: true, load: { running: 0, waiting: 0, kv_usage: 0 } });
      await sim.setFaults({ engineDead: true });
      expect(await fresh.check()).toEqual({ live: true, healthy: false, error: '/health answered 503' });
      await sim.setFaults({ engineDead: false, refuse: true });
      expect(await fresh.check()).toMatchObject({ live: false, healthy: false, error: expect.stringContaining('/health') });
      await sim.setFaults({ refuse: false });
      expect((await fresh.check()).healthy).toBe(true);
    } finally {
      await fresh.close();
    }
  });

  const faultCases = [
    { fault: { refuse: true }, kind: 'connect', tokens: 0 },
    { fault: { failBeforeFirstToken: 'reset' }, kind: 'connect', tokens: 0 },
    { fault: { failBeforeFirstToken: 'http500' }, kind: 'http', tokens: 0 },
    { fault: { engineDead: true }, kind: 'http', tokens: 0 },
    { fault: { dieAfterTokens: 3 }, kind: 'disconnected', tokens: 3 },
    { fault: { errorAfterTokens: 2 }, kind: 'stream', tokens: 2 },
  ] as const;
  for (const { fault, kind, tokens } of faultCases) {
    it(`vllm adapter - fault ${JSON.stringify(fault)} is EngineError ${kind} after ${tokens} tokens`, async () => {
      await sim.setFaults(fault);
      const result = await collect(adapter, { model: MODEL, prompt: 'fault', max_tokens: 10 });
      expect(result.tokens).toHaveLength(tokens);
      expect(result.error?.kind).toBe(kind);
      if (kind === 'http') expect(result.error?.status).toBe(500);
      expect(result.chunks.some((c) => c.type === 'end')).toBe(false);
    });
  }

  it('vllm adapter - an unknown model is http 404 with vLLM message', async () => {
    const result = await collect(adapter, { model: 'nope', prompt: 'x', max_tokens: 2 });
    expect(result.error).toMatchObject({ kind: 'http', status: 404 });
    expect(result.error?.message).toContain('The model `nope` does not exist.');
  });

  it('vllm adapter - a hung engine (headers, then nothing) is a timeout after the idle window', async () => {
    await sim.setFaults({ hang: true });
    const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 2 }, { idleTimeoutMs: 150 });
    expect(result.error?.kind).toBe('timeout');
  });

  it('vllm adapter - aborting mid-stream ends with aborted and the engine frees the slot', async () => {
    const rated = await startSimEngine({ model: MODEL, tokensPerSec: 50 });
    const rAdapter = new VllmAdapter(rated.url);
    try {
      const controller = new AbortController();
      const result = await collect(rAdapter, { model: MODEL, prompt: 'x', max_tokens: 1_000 }, {
        signal: controller.signal,
        onToken: (count) => {
          if (count === 2) {
            expect(rated.stats().running).toBe(1);
            controller.abort();
          }
        },
      });
      expect(result.error?.kind).toBe('aborted');
      expect(result.tokens).toHaveLength(2);
      await waitFor('the engine to free the slot', () => rated.stats().running === 0);
      const metrics = await (await request(`${rated.url}/metrics`)).body.text();
      expect(metrics).toContain(`vllm:request_success_total{engine="0",model_name="${MODEL}",finished_reason="abort"} 1.0`);
    } finally {
      await rAdapter.close();
      await rated.close();
    }
  });

  it('vllm adapter - an abort before the first token also frees the slot', async () => {
    const slow = await startSimEngine({ model: MODEL, ttftMs: 60_000 });
    const sAdapter = new VllmAdapter(slow.url);
    try {
      const controller = new AbortController();
      const pending = collect(sAdapter, { model: MODEL, prompt: 'x', max_tokens: 5 }, { signal: controller.signal });
      await waitFor('the sequence to be running', () => slow.stats().running === 1);
      controller.abort();
      expect((await pending).error?.kind).toBe('aborted');
      await waitFor('the engine to free the slot', () => slow.stats().running === 0);
    } finally {
      await sAdapter.close();
      await slow.close();
    }
  });

  it('vllm adapter - no byte for idleTimeoutMs is a timeout and the engine frees the slot', async () => {
    const slow = await startSimEngine({ model: MODEL, ttftMs: 60_000 });
    const sAdapter = new VllmAdapter(slow.url);
    try {
      const result = await collect(sAdapter, { model: MODEL, prompt: 'x', max_tokens: 5 }, { idleTimeoutMs: 200 });
      expect(result.error?.kind).toBe('timeout');
      await waitFor('the engine to free the slot', () => slow.stats().running === 0);
    } finally {
      await sAdapter.close();
      await slow.close();
    }
  });

  it('vllm adapter - a slow consumer is not an idle engine', async () => {
    const result = await (async () => {
      const tokens: string[] = [];
      for await (const step of adapter.stream({ model: MODEL, prompt: 'x', max_tokens: 3 }, new AbortController().signal, { idleTimeoutMs: 50 })) {
        for (const chunk of step) if (chunk.type === 'token') tokens.push(chunk.text);
        // Hold each step longer than the idle window.
        await new Promise((resolve) => setTimeout(resolve, 120));
      }
      return tokens;
    })();
    expect(result).toHaveLength(3);
  });

  it('vllm adapter - an already aborted signal fails at once', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await collect(adapter, { model: MODEL, prompt: 'x', max_tokens: 2 }, { signal: controller.signal });
    expect(result.error?.kind).toBe('aborted');
    expect(sim.stats().requestsTotal).toBeGreaterThan(0);
  });

  it('vllm adapter - with an api key: the right key streams, none is http 401', async () => {
    const keyed = await startSimEngine({ model: MODEL, apiKey: 'sekrit' });
    const good = new VllmAdapter(keyed.url, { apiKey: 'sekrit' });
    const bad = new VllmAdapter(keyed.url);
    try {
      expect((await collect(good, { model: MODEL, prompt: 'x', max_tokens: 3 })).tokens).toHaveLength(3);
      expect((await good.health()).ready).toBe(true);
      const denied = await collect(bad, { model: MODEL, prompt: 'x', max_tokens: 3 });
      expect(denied.error).toMatchObject({ kind: 'http', status: 401 });
      expect(denied.error?.message).toContain('Unauthorized');
      expect(await bad.health()).toMatchObject({ live: true, ready: false, error: '/v1/models answered 401' });
    } finally {
      await good.close();
      await bad.close();
      await keyed.close();
    }
  });
});

describe('vllm adapter - the connections of a routine check', () => {
  const METRICS = 'vllm:num_requests_running{engine="0"} 1.0\nvllm:num_requests_waiting{engine="0"} 0.0\nvllm:kv_cache_usage_perc{engine="0"} 0.25\n';
  const paths: string[] = [];
  const open = new Set<Socket>();
  let connections = 0;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      req.resume();
      if (req.url === '/metrics') return void res.end(METRICS);
      if (req.url === '/v1/models') return void res.end(JSON.stringify({ data: [{ id: MODEL }] }));
      if (req.url === '/v1/completions') {
        const chunk = { object: 'text_completion', choices: [{ index: 0, text: 'hi', finish_reason: null }] };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
      }
      res.writeHead(200, { 'content-length': 0 }).end();
    });
    server.on('connection', (socket: Socket) => {
      connections += 1;
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    paths.length = 0;
    connections = 0;
  });
  afterAll(async () => {
    await stopServer(server);
  });

  it('vllm adapter - a check with no recent exchange opens its own connection for /health and /metrics and closes it', async () => {
    const adapter = new VllmAdapter(url, { pooledCheckWithinMs: 0 });
    try {
      expect(await adapter.check()).toEqual({ live: true, healthy: true, load: { running: 1, waiting: 0, kv_usage: 0.25 } });
      await waitFor('the check to close its connection', () => open.size === 0);
      expect(await adapter.check()).toMatchObject({ healthy: true });
      await waitFor('the check to close its connection', () => open.size === 0);
      expect(paths).toEqual(['/health', '/metrics', '/health', '/metrics']);
      expect(connections).toBe(2);
    } finally {
      await adapter.close();
    }
  });

  it('vllm adapter - an engine with a known keep-alive: checks share one connection of their own, kept open', async () => {
    const adapter = new VllmAdapter(url, { pooledCheckWithinMs: 0, serverKeepAliveMs: 60_000 });
    try {
      for (let i = 0; i < 3; i++) expect(await adapter.check()).toMatchObject({ healthy: true, load: { running: 1 } });
      expect(paths).toEqual(['/health', '/metrics', '/health', '/metrics', '/health', '/metrics']);
      expect(connections).toBe(1);
      expect(open.size).toBe(1);
    } finally {
      await adapter.close();
    }
    await waitFor('close() to close the checks connection', () => open.size === 0);
  });

  it('vllm adapter - the adapter cache keeps a check connection only for an engine whose keep-alive it was told', async () => {
    const cache = new AdapterCache();
    const told = new URL(url);
    // Two names of one server: one adapter each.
    const untold = `http://localhost:${told.port}`;
    try {
      for (let i = 0; i < 3; i++) await cache.get('vllm', url, { serverKeepAliveMs: 60_000 }).check();
      expect(connections).toBe(1);
      for (let i = 0; i < 3; i++) await cache.get('vllm', untold).check();
      await waitFor('the untold checks to close their connections', () => open.size === 1);
      expect(connections).toBe(4);
    } finally {
      await cache.closeAll();
    }
    await waitFor('closeAll() to close every connection', () => open.size === 0);
  });

  it('vllm adapter - releasing a gone engine closes its check connection; the next get makes a new adapter', async () => {
    const cache = new AdapterCache();
    try {
      const first = cache.get('vllm', url, { serverKeepAliveMs: 60_000 });
      await first.check();
      expect(open.size).toBe(1);
      cache.release('vllm', url);
      await waitFor('the released adapter to close its check connection', () => open.size === 0);
      const second = cache.get('vllm', url, { serverKeepAliveMs: 60_000 });
      expect(second).not.toBe(first);
      expect(await second.check()).toMatchObject({ healthy: true });
    } finally {
      await cache.closeAll();
    }
  });

  it('vllm adapter - the kept check connection closes itself after half the engine keep-alive', async () => {
    // 60 s would outlast the wait below: only a keep-alive the adapter applied closes it in time.
    const adapter = new VllmAdapter(url, { pooledCheckWithinMs: 0, serverKeepAliveMs: 400 });
    try {
      expect(await adapter.check()).toMatchObject({ healthy: true });
      expect(open.size).toBe(1);
      await waitFor('the idle check connection to close', () => open.size === 0, 3_000);
      expect(await adapter.check()).toMatchObject({ healthy: true });
      expect(connections).toBe(2);
    } finally {
      await adapter.close();
    }
  });

  it('vllm adapter - health and load with no recent stream use a connection of their own and leave none open', async () => {
    const pool = new CountingAgent();
    const adapter = new VllmAdapter(url, { pooledCheckWithinMs: 60_000, dispatcher: pool });
    try {
      expect(await adapter.health()).toEqual({ live: true, ready: true, models: [MODEL] });
      expect(await adapter.load()).toEqual({ running: 1, waiting: 0, kv_usage: 0.25 });
      await waitFor('the calls to close their connections', () => open.size === 0);
      expect(paths).toEqual(['/health', '/v1/models', '/metrics']);
      expect(connections).toBe(2);
      // The streams' pool was never used, so no per-origin pool was created for this engine.
      expect(pool.paths).toEqual([]);
    } finally {
      await adapter.close();
      await pool.close();
    }
  });

  it('vllm adapter - checks right after a stream go over the streams\' pool', async () => {
    const pool = new CountingAgent();
    const adapter = new VllmAdapter(url, { pooledCheckWithinMs: 60_000, dispatcher: pool });
    try {
      const chunks = [];
      for await (const step of adapter.stream({ model: MODEL, prompt: 'p', max_tokens: 1 }, new AbortController().signal)) chunks.push(...step.map((chunk) => chunk.type));
      expect(chunks).toEqual(['token', 'end']);
      expect(await adapter.check()).toMatchObject({ healthy: true, load: { running: 1 } });
      expect((await adapter.health()).ready).toBe(true);
      expect(await adapter.load()).toMatchObject({ running: 1 });
      expect(pool.paths).toEqual(['/v1/completions', '/health', '/metrics', '/health', '/v1/models', '/metrics']);
    } finally {
      await adapter.close();
      await pool.close();
    }
    await waitFor('the pool to close its connections', () => open.size === 0);
  });
});

/** An Agent that records the path of every request sent through it. */
class CountingAgent extends Agent {
  readonly paths: string[] = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.paths.push(options.path);
    return super.dispatch(options, handler);
  }
}
