import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimEngine, type SimEngine } from '../../src/sim/index.js';
import { waitFor } from '../helpers/wait-for.js';

const MODEL = 'Qwen/Qwen2.5-1.5B-Instruct';
const LABELS = `engine="0",model_name="${MODEL}"`;

let dispatcher: Agent;
beforeAll(() => {
  dispatcher = new Agent();
});
afterAll(async () => {
  await dispatcher.close();
});

interface RawResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  text: string;
}

async function call(engine: SimEngine, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const response = await request(`${engine.url}${path}`, {
    method,
    dispatcher,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

/** Splits an SSE body into its `data: ` payloads, checking the exact framing on the way. */
function sseData(text: string): string[] {
  expect(text.endsWith('\n\n')).toBe(true);
  const events = text.slice(0, -2).split('\n\n');
  for (const event of events) {
    expect(event.startsWith('data: ')).toBe(true);
    expect(event.includes('\n')).toBe(false);
  }
  return events.map((event) => event.slice('data: '.length));
}

/** The payload is compact JSON (what pydantic's model_dump_json prints); returns it parsed. */
function compactJson(data: string): Record<string, unknown> {
  const parsed = JSON.parse(data) as Record<string, unknown>;
  expect(JSON.stringify(parsed)).toBe(data);
  return parsed;
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('sim engine - wire format', () => {
  let engine: SimEngine;
  beforeAll(async () => {
    engine = await startSimEngine({ model: MODEL, maxModelLen: 4096 });
  });
  afterAll(async () => {
    await engine.close();
  });

  it('sim engine - completions stream: framing, key order, finish on the last token, usage chunk, [DONE]', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await call(engine, 'POST', '/v1/completions', { model: MODEL, prompt: 'one two three', max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const data = sseData(res.text);
    expect(data).toHaveLength(6);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map(compactJson);
    const id = chunks[0]?.id as string;
    expect(id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    for (const [i, chunk] of chunks.slice(0, 4).entries()) {
      expect(Object.keys(chunk)).toEqual(['id', 'object', 'created', 'model', 'choices', 'usage']);
      expect(chunk).toMatchObject({ id, object: 'text_completion', model: MODEL, usage: null });
      expect(chunk.created).toBeGreaterThanOrEqual(before);
      expect(chunk.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
      const choice = (chunk.choices as Record<string, unknown>[])[0]!;
      expect(Object.keys(choice)).toEqual(['index', 'text', 'logprobs', 'finish_reason', 'stop_reason']);
      expect(choice).toMatchObject({ index: 0, logprobs: null, finish_reason: i === 3 ? 'length' : null, stop_reason: null });
      expect(choice.text).toMatch(/^ \S+$/);
    }
    expect(Object.keys(chunks[4]!)).toEqual(['id', 'object', 'created', 'model', 'choices', 'usage']);
    expect(chunks[4]).toMatchObject({ id, choices: [], usage: { prompt_tokens: 3, total_tokens: 7, completion_tokens: 4 } });
    expect(Object.keys(chunks[4]!.usage as object)).toEqual(['prompt_tokens', 'total_tokens', 'completion_tokens']);
  });

  it('sim engine - completions stream without include_usage has no usage chunk', async () => {
    const res = await call(engine, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 2, stream: true });
    const data = sseData(res.text);
    expect(data).toHaveLength(3);
    expect(data[2]).toBe('[DONE]');
  });

  it('sim engine - chat stream: role chunk, content chunks, final chunk with stop_reason, usage chunk, [DONE]', async () => {
    const res = await call(engine, 'POST', '/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const data = sseData(res.text);
    expect(data).toHaveLength(7);
    expect(data[6]).toBe('[DONE]');
    const chunks = data.slice(0, -1).map(compactJson);
    const id = chunks[0]?.id as string;
    expect(id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    for (const chunk of chunks.slice(0, 5)) expect(Object.keys(chunk)).toEqual(['id', 'object', 'created', 'model', 'choices']);
    expect(chunks[0]!.choices).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    for (const chunk of chunks.slice(1, 4)) {
      const choice = (chunk.choices as Record<string, unknown>[])[0]!;
      expect(Object.keys(choice)).toEqual(['index', 'delta', 'logprobs', 'finish_reason']);
      expect(choice.delta).toEqual({ content: expect.stringMatching(/^ \S+$/) as unknown });
    }
    const final = (chunks[4]!.choices as Record<string, unknown>[])[0]!;
    expect(Object.keys(final)).toEqual(['index', 'delta', 'logprobs', 'finish_reason', 'stop_reason']);
    expect(final).toEqual({ index: 0, delta: { content: '' }, logprobs: null, finish_reason: 'length', stop_reason: null });
    expect(chunks[5]).toEqual({ id, object: 'chat.completion.chunk', created: chunks[0]!.created, model: MODEL, choices: [], usage: { prompt_tokens: 6, total_tokens: 9, completion_tokens: 3 } });
  });

  it('sim engine - non-stream completion and chat carry the text and usage; default max_tokens is 16', async () => {
    const completion = await call(engine, 'POST', '/v1/completions', { prompt: 'a b', seed: 3 });
    expect(completion.status).toBe(200);
    const body = compactJson(completion.text);
    expect(body).toMatchObject({ object: 'text_completion', model: MODEL, usage: { prompt_tokens: 2, total_tokens: 18, completion_tokens: 16 } });
    const choice = (body.choices as Record<string, unknown>[])[0]!;
    expect(choice).toMatchObject({ index: 0, logprobs: null, finish_reason: 'length', stop_reason: null });
    expect((choice.text as string).match(/ \S+/g)).toHaveLength(16);
    const chat = compactJson((await call(engine, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'a b' }], max_tokens: 5 })).text);
    expect(chat).toMatchObject({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'length' }], usage: { completion_tokens: 5 } });
    expect(chat.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
  });

  it('sim engine - keeps an idle connection 5 s like uvicorn, or as long as it is told', async () => {
    expect((await call(engine, 'GET', '/health')).headers['keep-alive']).toBe('timeout=5');
    const long = await startSimEngine({ model: MODEL, keepAliveTimeoutMs: 60_000 });
    try {
      expect((await call(long, 'GET', '/health')).headers['keep-alive']).toBe('timeout=60');
    } finally {
      await long.close();
    }
  });

  it('sim engine - /health, /version, /v1/models and /tokenize shapes', async () => {
    const health = await call(engine, 'GET', '/health');
    expect([health.status, health.text]).toEqual([200, '']);
    expect(JSON.parse((await call(engine, 'GET', '/version')).text)).toEqual({ version: '0.11.0' });
    const models = compactJson((await call(engine, 'GET', '/v1/models')).text);
    expect(Object.keys(models)).toEqual(['object', 'data']);
    const card = (models.data as Record<string, unknown>[])[0]!;
    expect(Object.keys(card)).toEqual(['id', 'object', 'created', 'owned_by', 'root', 'parent', 'max_model_len', 'permission']);
    expect(card).toMatchObject({ id: MODEL, object: 'model', owned_by: 'vllm', root: MODEL, parent: null, max_model_len: 4096 });
    expect((card.permission as Record<string, unknown>[])[0]).toMatchObject({ id: expect.stringMatching(/^modelperm-[0-9a-f]{32}$/) as unknown, object: 'model_permission' });
    const tokenized = JSON.parse((await call(engine, 'POST', '/tokenize', { model: MODEL, prompt: 'Hello there world' })).text) as Record<string, unknown>;
    expect(Object.keys(tokenized)).toEqual(['count', 'max_model_len', 'tokens', 'token_strs']);
    expect(tokenized).toMatchObject({ count: 3, max_model_len: 4096, token_strs: null });
  });

  it('sim engine - errors in the current vLLM shape: unknown model 404, malformed 400, context overflow 400', async () => {
    const missing = await call(engine, 'POST', '/v1/completions', { model: 'foo', prompt: 'x' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text)).toEqual({ error: { message: 'The model `foo` does not exist.', type: 'NotFoundError', param: 'model', code: 404 } });
    for (const bad of ['{not json', { model: MODEL }, { prompt: 'x', max_tokens: 'many' }, { messages: 'hi' }]) {
      const res = await call(engine, 'POST', typeof bad === 'object' && 'messages' in bad ? '/v1/chat/completions' : '/v1/completions', bad);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error: { type: 'BadRequestError', param: null, code: 400 } });
    }
    const overflow = await call(engine, 'POST', '/v1/completions', { prompt: 'four words right here', max_tokens: 4093 });
    expect(overflow.status).toBe(400);
    expect(JSON.parse(overflow.text)).toEqual({
      error: {
        message:
          "This model's maximum context length is 4096 tokens. However, you requested 4097 tokens (4 in the messages, 4093 in the completion). Please reduce the length of the messages or completion.",
        type: 'BadRequestError',
        param: null,
        code: 400,
      },
    });
    expect((await call(engine, 'GET', '/nope')).status).toBe(404);
  });

  it('sim engine - /metrics has HELP/TYPE lines and vLLM names with engine and model_name labels', async () => {
    const res = await call(engine, 'GET', '/metrics');
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const types: Record<string, string> = {
      'vllm:num_requests_running': 'gauge',
      'vllm:num_requests_waiting': 'gauge',
      'vllm:kv_cache_usage_perc': 'gauge',
      'vllm:prompt_tokens_total': 'counter',
      'vllm:generation_tokens_total': 'counter',
      'vllm:request_success_total': 'counter',
      'vllm:time_to_first_token_seconds': 'histogram',
      'vllm:e2e_request_latency_seconds': 'histogram',
    };
    for (const [name, type] of Object.entries(types)) {
      expect(res.text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
      expect(res.text).toContain(`# TYPE ${name} ${type}\n`);
    }
    expect(metricValue(res.text, `vllm:num_requests_running{${LABELS}}`)).toBe(0);
    expect(res.text).toContain(`vllm:num_requests_running{${LABELS}} 0.0\n`);
    expect(metricValue(res.text, `vllm:generation_tokens_total{${LABELS}}`)).toBeGreaterThan(0);
    expect(metricValue(res.text, `vllm:request_success_total{${LABELS},finished_reason="length"}`)).toBeGreaterThan(0);
    const count = metricValue(res.text, `vllm:time_to_first_token_seconds_count{${LABELS}}`);
    expect(metricValue(res.text, `vllm:time_to_first_token_seconds_bucket{${LABELS},le="+Inf"}`)).toBe(count);
    expect(metricValue(res.text, `vllm:e2e_request_latency_seconds_sum{${LABELS}}`)).toBeGreaterThan(0);
  });
});

describe('sim engine - scheduling', () => {
  it('sim engine - with maxNumSeqs 2 and 4 requests: running 2, waiting 2, FIFO, and all 4 finish', async () => {
    const engine = await startSimEngine({ model: MODEL, maxNumSeqs: 2, tokensPerSec: 20 });
    try {
      const log: string[] = [];
      const streams = [0, 1, 2, 3].map(async (i) => {
        const response = await request(`${engine.url}/v1/completions`, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: `request ${i}`, max_tokens: 10, stream: true }),
        });
        let text = '';
        for await (const piece of response.body) {
          if (text === '') log.push(`first ${i}`);
          text += (piece as Buffer).toString('utf8');
        }
        log.push(`done ${i}`);
        return sseData(text);
      });
      await waitFor('2 running and 2 waiting', () => engine.stats().running === 2 && engine.stats().waiting === 2);
      const metrics = (await call(engine, 'GET', '/metrics')).text;
      expect(metricValue(metrics, `vllm:num_requests_running{${LABELS}}`)).toBe(2);
      expect(metricValue(metrics, `vllm:num_requests_waiting{${LABELS}}`)).toBe(2);
      expect(metricValue(metrics, `vllm:kv_cache_usage_perc{${LABELS}}`)).toBe(1);
      const results = await Promise.all(streams);
      for (const data of results) {
        expect(data).toHaveLength(11);
        expect(data.at(-1)).toBe('[DONE]');
      }
      // The two waiting requests get their first token only after a running one has finished.
      const firstDone = log.findIndex((entry) => entry.startsWith('done'));
      expect(log.slice(0, firstDone).filter((entry) => entry.startsWith('first'))).toHaveLength(2);
      expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, requestsTotal: 4, tokensTotal: 40 });
    } finally {
      await engine.close();
    }
  });

  it('sim engine - a client that goes away frees its slot, or its place in the queue', async () => {
    const engine = await startSimEngine({ model: MODEL, maxNumSeqs: 1, tokensPerSec: 20 });
    try {
      const running = new AbortController();
      const queued = new AbortController();
      const first = request(`${engine.url}/v1/completions`, { method: 'POST', dispatcher, signal: running.signal, body: JSON.stringify({ prompt: 'x', max_tokens: 500, stream: true }) });
      await waitFor('one running', () => engine.stats().running === 1);
      const second = request(`${engine.url}/v1/completions`, { method: 'POST', dispatcher, signal: queued.signal, body: JSON.stringify({ prompt: 'y', max_tokens: 500, stream: true }) });
      await waitFor('one waiting', () => engine.stats().waiting === 1);
      queued.abort();
      await expect(second.then((r) => r.body.text())).rejects.toThrow();
      await waitFor('the queue to be empty', () => engine.stats().waiting === 0);
      expect(engine.stats().running).toBe(1);
      running.abort();
      await expect(first.then((r) => r.body.text())).rejects.toThrow();
      await waitFor('the slot to be free', () => engine.stats().running === 0);
    } finally {
      await engine.close();
    }
  });

  it('sim engine - close() ends open streams', async () => {
    const engine = await startSimEngine({ model: MODEL, ttftMs: 60_000 });
    const response = await request(`${engine.url}/v1/completions`, { method: 'POST', dispatcher, body: JSON.stringify({ prompt: 'x', stream: true }) });
    expect(response.statusCode).toBe(200);
    await waitFor('one running', () => engine.stats().running === 1);
    await engine.close();
    await expect(response.body.text()).rejects.toThrow();
  });
});

describe('sim engine - faults', () => {
  let engine: SimEngine;
  beforeAll(async () => {
    engine = await startSimEngine({ model: MODEL });
  });
  afterEach(async () => {
    await engine.setFaults({ refuse: false, failBeforeFirstToken: undefined, dieAfterTokens: undefined, errorAfterTokens: undefined, slowFactor: undefined, hang: undefined, engineDead: undefined });
  });
  afterAll(async () => {
    await engine.close();
  });
  const stream = { prompt: 'x', max_tokens: 6, stream: true };

  it('sim engine - refuse stops listening and clearing it listens again on the same port', async () => {
    const port = engine.port;
    await engine.setFaults({ refuse: true });
    await expect(call(engine, 'GET', '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await engine.setFaults({ refuse: false });
    expect(engine.port).toBe(port);
    expect((await call(engine, 'GET', '/health')).status).toBe(200);
  });

  it('sim engine - failBeforeFirstToken reset drops the connection without a byte', async () => {
    await engine.setFaults({ failBeforeFirstToken: 'reset' });
    await expect(call(engine, 'POST', '/v1/completions', stream)).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('sim engine - failBeforeFirstToken http500 answers a vLLM 500', async () => {
    await engine.setFaults({ failBeforeFirstToken: 'http500' });
    const res = await call(engine, 'POST', '/v1/completions', stream);
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toMatchObject({ error: { type: 'InternalServerError', param: null, code: 500 } });
  });

  it('sim engine - dieAfterTokens sends N tokens then cuts the connection without [DONE]', async () => {
    await engine.setFaults({ dieAfterTokens: 2 });
    const response = await request(`${engine.url}/v1/completions`, { method: 'POST', dispatcher, body: JSON.stringify(stream) });
    let text = '';
    await expect(
      (async () => {
        for await (const piece of response.body) text += (piece as Buffer).toString('utf8');
      })(),
    ).rejects.toThrow();
    expect(text.split('\n\n').filter((e) => e.startsWith('data: {'))).toHaveLength(2);
    expect(text).not.toContain('[DONE]');
  });

  it('sim engine - errorAfterTokens sends N tokens, the json.dumps error event, then [DONE]', async () => {
    await engine.setFaults({ errorAfterTokens: 1 });
    const data = sseData((await call(engine, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 6, stream: true })).text);
    expect(data).toHaveLength(4);
    expect(data[2]).toBe(
      '{"error": {"message": "EngineCore encountered an issue. See stack trace (above) for the root cause.", "type": "InternalServerError", "param": null, "code": 500}}',
    );
    expect(data[3]).toBe('[DONE]');
  });

  it('sim engine - hang sends headers and nothing else', async () => {
    await engine.setFaults({ hang: true });
    const controller = new AbortController();
    const response = await request(`${engine.url}/v1/completions`, { method: 'POST', dispatcher, signal: controller.signal, body: JSON.stringify(stream) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    let received = 0;
    response.body.on('data', (piece: Buffer) => (received += piece.length));
    const ended = new Promise<void>((resolve) => response.body.on('close', () => resolve()));
    // The hang is decided when the request arrives; a later, normal request on another connection
    // completes, and by then a token of the first one would have been written.
    await engine.setFaults({ hang: false });
    expect((await call(engine, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 1 })).status).toBe(200);
    expect(received).toBe(0);
    controller.abort();
    await ended;
    expect(received).toBe(0);
  });

  it('sim engine - engineDead: /health 503 with an empty body, requests 500', async () => {
    await engine.setFaults({ engineDead: true });
    const health = await call(engine, 'GET', '/health');
    expect([health.status, health.text]).toEqual([503, '']);
    expect((await call(engine, 'POST', '/v1/completions', stream)).status).toBe(500);
  });

  it('sim engine - engineDead under a running stream sends the error event and [DONE]', async () => {
    const rated = await startSimEngine({ model: MODEL, tokensPerSec: 50 });
    try {
      const response = await request(`${rated.url}/v1/completions`, { method: 'POST', dispatcher, body: JSON.stringify({ prompt: 'x', max_tokens: 1_000, stream: true }) });
      let text = '';
      for await (const piece of response.body) {
        if (text === '') await rated.setFaults({ engineDead: true });
        text += (piece as Buffer).toString('utf8');
      }
      const data = sseData(text);
      expect(data.length).toBeLessThan(1_000);
      expect(JSON.parse(data.at(-2)!)).toMatchObject({ error: { type: 'InternalServerError', code: 500 } });
      expect(data.at(-1)).toBe('[DONE]');
      await waitFor('the slot to be free', () => rated.stats().running === 0);
    } finally {
      await rated.close();
    }
  });

  it('sim engine - slowFactor still produces every token', async () => {
    const slow = await startSimEngine({ model: MODEL, ttftMs: 2, tokensPerSec: 500, faults: { slowFactor: 2 } });
    try {
      expect(sseData((await call(slow, 'POST', '/v1/completions', stream)).text)).toHaveLength(7);
    } finally {
      await slow.close();
    }
  });

  it('sim engine - with apiKey /v1/* needs the bearer token; /health, /metrics, /version do not', async () => {
    const keyed = await startSimEngine({ model: MODEL, apiKey: 'sekrit' });
    try {
      const denied = await call(keyed, 'GET', '/v1/models');
      expect(denied.status).toBe(401);
      expect(JSON.parse(denied.text)).toEqual({ error: 'Unauthorized' });
      expect((await call(keyed, 'POST', '/v1/completions', stream, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await call(keyed, 'GET', '/v1/models', undefined, { authorization: 'Bearer sekrit' })).status).toBe(200);
      for (const path of ['/health', '/metrics', '/version']) expect((await call(keyed, 'GET', path)).status).toBe(200);
    } finally {
      await keyed.close();
    }
  });
});
