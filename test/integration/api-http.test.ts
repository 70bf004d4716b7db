/**
 * The native /v2 API over real HTTP against the in-memory FakeGateway: admission, validation,
 * errors and their headers, auth, correlation ids, SSE framing / resume / disconnect / failures,
 * pools and capabilities, probes and metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import type { IncomingHttpHeaders } from 'undici/types/header.js';
import { buildApi } from '../../src/api/index.js';
import { DroverError, type ErrorEnvelope, type PoolView, type ReplicaView } from '../../src/protocols/index.js';
import { FakeGateway, endEvent, specOf, tokenEvent } from '../helpers/fake-gateway.js';
import { waitFor } from '../helpers/wait-for.js';

const TOKEN = 's3cret-token-value';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Harness {
  app: FastifyInstance;
  base: string;
  gw: FakeGateway;
  logs: string[];
}

async function start(opts: { apiToken?: string; heartbeatMs?: number } = {}): Promise<Harness> {
  const gw = new FakeGateway();
  const logs: string[] = [];
  const logger = pino({ level: 'debug', redact: ['caller_secret'] }, { write: (line: string) => void logs.push(line) });
  let n = 0;
  const app = await buildApi({
    gateway: gw,
    logger,
    registry: new Registry(),
    newId: () => `id-${++n}`,
    ...(opts.apiToken === undefined ? {} : { apiToken: opts.apiToken }),
    ...(opts.heartbeatMs === undefined ? {} : { sseHeartbeatMs: opts.heartbeatMs }),
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, base, gw, logs };
}

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

async function call(
  base: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: { headers?: Record<string, string>; json?: unknown; raw?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined = opts.raw;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await request(`${base}${path}`, { method, headers, body });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function envelopeOf(res: Res): ErrorEnvelope {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(res.text) as ErrorEnvelope;
}

/** Asserts an error response: status, code, and the correlation id in header and envelope. */
function expectError(res: Res, status: number, code: string): ErrorEnvelope {
  expect(res.status).toBe(status);
  const env = envelopeOf(res);
  expect(env.code).toBe(code);
  expect(typeof env.message).toBe('string');
  expect(env.correlation_id).toBeDefined();
  expect(env.correlation_id).toBe(res.headers['x-correlation-id']);
  expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack traces
  return env;
}

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comments: string[];
}

function parseFrame(raw: string): Frame {
  const frame: Frame = { comments: [] };
  for (const line of raw.split('\n')) {
    if (line.startsWith(':')) frame.comments.push(line.slice(1).trim());
    else {
      const i = line.indexOf(': ');
      const [key, value] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
      if (key === 'id' || key === 'event' || key === 'data') frame[key] = value;
    }
  }
  return frame;
}

/** An open SSE response, read frame by frame. */
interface Stream {
  status: number;
  headers: IncomingHttpHeaders;
  /** The next frame, or undefined at the end of the stream. */
  next(): Promise<Frame | undefined>;
  /** Every remaining frame until the server ends the stream. */
  rest(): Promise<Frame[]>;
  /** Disconnects. */
  abort(): void;
}

/** Opens `path` as a stream: a GET, or with `post` a POST of that JSON body. */
async function openStream(base: string, path: string, headers: Record<string, string> = {}, post?: unknown): Promise<Stream> {
  const ac = new AbortController();
  const res = await request(`${base}${path}`, {
    headers: post === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    signal: ac.signal,
    ...(post === undefined ? {} : { method: 'POST' as const, body: JSON.stringify(post) }),
  });
  const chunks = res.body[Symbol.asyncIterator]();
  let buffer = '';
  const next = async (): Promise<Frame | undefined> => {
    for (;;) {
      const cut = buffer.indexOf('\n\n');
      if (cut >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        return parseFrame(raw);
      }
      const chunk = (await chunks.next()) as IteratorResult<Buffer>;
      if (chunk.done === true) return undefined;
      buffer += chunk.value.toString('utf8');
    }
  };
  const rest = async (): Promise<Frame[]> => {
    const frames: Frame[] = [];
    for (let f = await next(); f !== undefined; f = await next()) frames.push(f);
    return frames;
  };
  return { status: res.statusCode, headers: res.headers, next, rest, abort: () => ac.abort() };
}

async function errorFrom(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Connections the server holds open right now. */
function connections(app: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
}

function replica(id: string, over: Partial<ReplicaView>): ReplicaView {
  return {
    replica_id: id,
    pool_id: 'p',
    url: `http://${id}`,
    engine: 'vllm',
    model: 'm',
    health: 'ready',
    slots_total: 2,
    slots_busy: 0,
    slots_free: 2,
    ...over,
  };
}

function pool(id: string, over: Partial<PoolView>): PoolView {
  return {
    pool_id: id,
    model: 'm',
    engine: 'vllm',
    desired: 1,
    state: 'ready',
    at: 1,
    ready: 1,
    slots_total: 2,
    slots_busy: 0,
    queued: 0,
    replicas: [],
    ...over,
  };
}

describe('api-http - open server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(async () => {
    await h.app.close();
  });

  it('api-http - POST /v2/tasks answers 202 with the admission, streams and headers', async () => {
    const res = await call(h.base, 'POST', '/v2/tasks', {
      json: { task_id: 'task-a', model: 'llama', prompt: 'hello', max_tokens: 16, priority: 'batch' },
      headers: { 'x-correlation-id': 'corr-202' },
    });
    expect(res.status).toBe(202);
    expect(res.headers['x-correlation-id']).toBe('corr-202');
    expect(res.headers['location']).toBe('/v2/tasks/task-a');
    expect(JSON.parse(res.text)).toEqual({
      task_id: 'task-a',
      queue_position: expect.any(Number),
      predicted_start_ms: 100,
      backoff_ms: 0,
      streams: { sse: '/v2/tasks/task-a/events', sse_verbose: '/v2/tasks/task-a/events?verbose=true' },
    });
    const sub = h.gw.submitted.find((s) => s.spec.task_id === 'task-a');
    expect(sub?.correlationId).toBe('corr-202');
    expect(sub?.spec).toMatchObject({ model: 'llama', prompt: 'hello', max_tokens: 16, priority: 'batch' });
  });

  it('api-http - model and prompt are enough; defaults and generated ids fill the rest', async () => {
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } });
    expect(res.status).toBe(202);
    const { task_id } = JSON.parse(res.text) as { task_id: string };
    expect(task_id).toMatch(/^id-\d+$/);
    const spec = h.gw.submitted.find((s) => s.spec.task_id === task_id)?.spec;
    expect(spec).toEqual({
      task_id,
      session_id: expect.stringMatching(/^id-\d+$/),
      model: 'm',
      prompt: 'p',
      max_tokens: 256,
      priority: 'interactive',
      deadline_ms: 600_000,
    });
    expect(res.headers['x-correlation-id']).toMatch(UUID_V4);
  });

  const badBodies: [string, { json?: unknown; raw?: string; headers?: Record<string, string> }, number, string][] = [
    ['malformed JSON', { raw: '{"model": "m", ', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_PARAMS'],
    ['empty JSON body', { raw: '', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_PARAMS'],
    ['a JSON array', { json: [1, 2] }, 400, 'INVALID_PARAMS'],
    ['plain text', { raw: 'model=m', headers: { 'content-type': 'text/plain' } }, 400, 'INVALID_PARAMS'],
    ['unsupported content type', { raw: '<x/>', headers: { 'content-type': 'application/xml' } }, 400, 'INVALID_PARAMS'],
    ['wrong types', { json: { model: 'm', prompt: 'p', max_tokens: '10' } }, 400, 'INVALID_PARAMS'],
    ['negative max_tokens', { json: { model: 'm', prompt: 'p', max_tokens: -1 } }, 400, 'INVALID_PARAMS'],
    ['huge max_tokens', { json: { model: 'm', prompt: 'p', max_tokens: 10_000_000 } }, 400, 'INVALID_PARAMS'],
    ['missing model', { json: { prompt: 'p' } }, 400, 'INVALID_PARAMS'],
    ['missing prompt', { json: { model: 'm' } }, 400, 'INVALID_PARAMS'],
    ['bad task_id', { json: { model: 'm', prompt: 'p', task_id: 'a.b' } }, 400, 'INVALID_PARAMS'],
    ['deadline_ms = 0', { json: { model: 'm', prompt: 'p', deadline_ms: 0 } }, 400, 'DEADLINE_UNMET'],
    ['deadline_ms < 0', { json: { model: 'm', prompt: 'p', deadline_ms: -5 } }, 400, 'DEADLINE_UNMET'],
  ];
  for (const [name, opts, status, code] of badBodies) {
    it(`api-http - POST /v2/tasks rejects ${name} with ${code}`, async () => {
      const before = h.gw.submitted.length;
      const res = await call(h.base, 'POST', '/v2/tasks', { ...opts, headers: { ...opts.headers, 'x-correlation-id': `bad-${name}` } });
      const env = expectError(res, status, code);
      expect(env.correlation_id).toBe(`bad-${name}`);
      expect(env.retriable).toBe(false);
      expect(h.gw.submitted.length).toBe(before);
    });
  }

  it('api-http - zod messages name the offending field', async () => {
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p', max_tokens: -1 } });
    expect(expectError(res, 400, 'INVALID_PARAMS').message).toMatch(/^max_tokens: /);
  });

  it('api-http - a body over 2 MB is INVALID_PARAMS', async () => {
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'x'.repeat(2 * 1024 * 1024 + 10) } });
    expectError(res, 400, 'INVALID_PARAMS');
  });

  it('api-http - 429 ADMISSION_REJECT carries Retry-After, X-Backoff-Ms and policy_label reject', async () => {
    h.gw.submitErrors.push(new DroverError('ADMISSION_REJECT', 'queue full', { retryAfterMs: 2500, policyLabel: 'reject' }));
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } });
    const env = expectError(res, 429, 'ADMISSION_REJECT');
    expect(res.headers['retry-after']).toBe('3');
    expect(res.headers['x-backoff-ms']).toBe('2500');
    expect(env).toMatchObject({ retriable: true, retry_after_ms: 2500, policy_label: 'reject' });
  });

  it('api-http - 429 QUEUE_FULL_DROP_LRU carries Retry-After (at least 1 s), X-Backoff-Ms and policy_label drop-lru', async () => {
    h.gw.submitErrors.push(new DroverError('QUEUE_FULL_DROP_LRU', 'evicted', { retryAfterMs: 200, policyLabel: 'drop-lru' }));
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } });
    const env = expectError(res, 429, 'QUEUE_FULL_DROP_LRU');
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['x-backoff-ms']).toBe('200');
    expect(env).toMatchObject({ retriable: true, retry_after_ms: 200, policy_label: 'drop-lru' });
  });

  it('api-http - a 429 without retry_after_ms gets the 1000 ms default and its policy label', async () => {
    h.gw.submitErrors.push(new DroverError('ADMISSION_REJECT', 'queue full'));
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } });
    const env = expectError(res, 429, 'ADMISSION_REJECT');
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['x-backoff-ms']).toBe('1000');
    expect(env).toMatchObject({ retry_after_ms: 1000, policy_label: 'reject' });
  });

  it('api-http - 503 POOL_UNAVAILABLE and 409 TASK_EXISTS pass through with their envelope', async () => {
    h.gw.submitErrors.push(new DroverError('POOL_UNAVAILABLE', 'no pool serves m', { engine: 'vllm', poolId: 'p1' }));
    const env = expectError(await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } }), 503, 'POOL_UNAVAILABLE');
    expect(env).toMatchObject({ message: 'no pool serves m', retriable: true, engine: 'vllm', pool_id: 'p1' });
    h.gw.submitErrors.push(new DroverError('POOL_UNAVAILABLE', 'retry soon', { retryAfterMs: 1000, policyLabel: 'retry' }));
    const withBackoff = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' } });
    expect(expectError(withBackoff, 503, 'POOL_UNAVAILABLE')).toMatchObject({ retry_after_ms: 1000, policy_label: 'retry' });
    expect(withBackoff.headers['retry-after']).toBe('1');
    await call(h.base, 'POST', '/v2/tasks', { json: { task_id: 'dup', model: 'm', prompt: 'p' } });
    expectError(await call(h.base, 'POST', '/v2/tasks', { json: { task_id: 'dup', model: 'm', prompt: 'p' } }), 409, 'TASK_EXISTS');
  });

  it('api-http - a defect is INTERNAL 500 without internals, logged once at error with the correlation id', async () => {
    h.gw.submitErrors.push(new Error('boom: secret internals'));
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' }, headers: { 'x-correlation-id': 'corr-500' } });
    const env = expectError(res, 500, 'INTERNAL');
    expect(env.message).toBe('internal error');
    expect(res.text).not.toContain('boom');
    const errors = h.logs.map((l) => JSON.parse(l) as { level: number; correlation_id?: string }).filter((l) => l.level >= 50);
    expect(errors.filter((l) => l.correlation_id === 'corr-500')).toHaveLength(1);
  });

  it('api-http - GET /v2/tasks/:id returns the task view', async () => {
    await call(h.base, 'POST', '/v2/tasks', { json: { task_id: 'view-1', model: 'm', prompt: 'p', max_tokens: 7 } });
    const res = await call(h.base, 'GET', '/v2/tasks/view-1');
    expect(res.status).toBe(200);
    const view = JSON.parse(res.text) as Record<string, unknown>;
    expect(view).toMatchObject({ task_id: 'view-1', state: 'queued', model: 'm', priority: 'interactive', max_tokens: 7 });
    expect(view).not.toHaveProperty('owner');
    expect(view).not.toHaveProperty('spec');
  });

  it('api-http - unknown tasks are 404 NOT_FOUND on GET, events and cancel', async () => {
    const before = h.gw.eventsCalls.length;
    expectError(await call(h.base, 'GET', '/v2/tasks/nope'), 404, 'NOT_FOUND');
    expectError(await call(h.base, 'GET', '/v2/tasks/nope/events'), 404, 'NOT_FOUND');
    expectError(await call(h.base, 'POST', '/v2/tasks/nope/cancel'), 404, 'NOT_FOUND');
    expectError(await call(h.base, 'GET', '/v2/tasks/a.b%2A/events'), 404, 'NOT_FOUND');
    expectError(await call(h.base, 'POST', '/v2/tasks/a.b/cancel'), 404, 'NOT_FOUND');
    expect(h.gw.eventsCalls.length).toBe(before);
  });

  it('api-http - a non-numeric Last-Event-ID (header or query) is 400 INVALID_PARAMS', async () => {
    h.gw.addTask(specOf('lei'));
    expectError(await call(h.base, 'GET', '/v2/tasks/lei/events', { headers: { 'last-event-id': 'abc' } }), 400, 'INVALID_PARAMS');
    expectError(await call(h.base, 'GET', '/v2/tasks/lei/events', { headers: { 'last-event-id': '-1' } }), 400, 'INVALID_PARAMS');
    expectError(await call(h.base, 'GET', '/v2/tasks/lei/events?last_event_id=1.5'), 400, 'INVALID_PARAMS');
    expectError(await call(h.base, 'GET', '/v2/tasks/lei/events?last_event_id=0-1'), 400, 'INVALID_PARAMS');
    expectError(await call(h.base, 'GET', '/v2/tasks/lei/events?last_event_id=3-'), 400, 'INVALID_PARAMS');
  });

  it('api-http - POST /v2/tasks/:id/cancel answers 204 with an empty body and the correlation id', async () => {
    h.gw.addTask(specOf('c1'));
    const res = await call(h.base, 'POST', '/v2/tasks/c1/cancel', { headers: { 'x-correlation-id': 'corr-cancel' } });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(res.headers['x-correlation-id']).toBe('corr-cancel');
    expect(h.gw.cancels).toContainEqual({ taskId: 'c1', correlationId: 'corr-cancel' });
  });

  it('api-http - correlation ids: echoed when valid, generated otherwise, on every kind of response', async () => {
    const echoed = await call(h.base, 'GET', '/healthz', { headers: { 'x-correlation-id': 'abc-123 OK' } });
    expect(echoed.headers['x-correlation-id']).toBe('abc-123 OK');
    const tooLong = await call(h.base, 'GET', '/healthz', { headers: { 'x-correlation-id': 'x'.repeat(129) } });
    expect(tooLong.headers['x-correlation-id']).toMatch(UUID_V4);
    const atLimit = await call(h.base, 'GET', '/healthz', { headers: { 'x-correlation-id': 'y'.repeat(128) } });
    expect(atLimit.headers['x-correlation-id']).toBe('y'.repeat(128));
    const route404 = await call(h.base, 'GET', '/no/such/route', { headers: { 'x-correlation-id': 'corr-404' } });
    expect(expectError(route404, 404, 'NOT_FOUND').correlation_id).toBe('corr-404');
    const generated404 = await call(h.base, 'DELETE', '/v2/tasks');
    expect(expectError(generated404, 404, 'NOT_FOUND').correlation_id).toMatch(UUID_V4);
    const badUrl = await call(h.base, 'GET', '/v2/tasks/%E0%A4%A', { headers: { 'x-correlation-id': 'corr-bad-url' } });
    expect(expectError(badUrl, 400, 'INVALID_PARAMS').correlation_id).toBe('corr-bad-url');
  });

  it('api-http - SSE frames every event with id, event name and JSON data, and ends after the terminal event', async () => {
    const id = 'sse-1';
    h.gw.addTask(specOf(id));
    const started = { type: 'started', task_id: id, data: { queue_position: 0, predicted_start_ms: 0, pool_id: 'p1' } } as const;
    const metrics = { type: 'metrics', task_id: id, data: { queue_depth: 1, human: 'warming' } } as const;
    for (const e of [started, tokenEvent(id, 0, 'Hel'), metrics, tokenEvent(id, 1, 'lo\n"x"'), endEvent(id, 2)]) h.gw.push(id, e);
    const s = await openStream(h.base, `/v2/tasks/${id}/events`, { 'x-correlation-id': 'corr-sse' });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['cache-control']).toBe('no-cache');
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers['x-correlation-id']).toBe('corr-sse');
    const frames = await s.rest();
    // Ids are positions in the task: started 0, token i at i+1, the end `end`; metrics have none.
    expect(frames.map((f) => f.id)).toEqual(['0', '1', undefined, '2', 'end']);
    expect(frames.map((f) => f.event)).toEqual(['started', 'token', 'metrics', 'token', 'end']);
    expect(JSON.parse(frames[0]!.data!)).toEqual(started.data);
    expect(JSON.parse(frames[3]!.data!)).toEqual({ t: 'lo\n"x"', i: 1 });
    expect(JSON.parse(frames[4]!.data!)).toEqual(endEvent(id, 2).data);
  });

  it('api-http - SSE delivers live events as they are pushed', async () => {
    const id = 'sse-live';
    h.gw.addTask(specOf(id));
    const calls = h.gw.eventsCalls.length;
    const s = await openStream(h.base, `/v2/tasks/${id}/events`);
    await h.gw.eventsCall(calls + 1);
    h.gw.push(id, tokenEvent(id, 0));
    expect((await s.next())?.event).toBe('token');
    h.gw.push(id, tokenEvent(id, 1));
    expect(JSON.parse((await s.next())!.data!)).toEqual({ t: 't1', i: 1 });
    h.gw.push(id, endEvent(id, 2));
    expect((await s.next())?.event).toBe('end');
    expect(await s.next()).toBeUndefined();
  });

  it('api-http - Last-Event-ID resumes with exactly the events after it (header, then query fallback)', async () => {
    const id = 'sse-resume';
    h.gw.addTask(specOf(id));
    for (const i of [0, 1, 2, 3]) h.gw.push(id, tokenEvent(id, i));
    h.gw.push(id, endEvent(id, 4));
    const calls = h.gw.eventsCalls.length;
    const fromHeader = await (await openStream(h.base, `/v2/tasks/${id}/events`, { 'last-event-id': '2' })).rest();
    expect(fromHeader.map((f) => f.id)).toEqual(['3', '4', 'end']);
    expect(h.gw.eventsCalls[calls]?.afterPosition).toBe(2);
    const fromQuery = await (await openStream(h.base, `/v2/tasks/${id}/events?last_event_id=4`)).rest();
    expect(fromQuery.map((f) => f.id)).toEqual(['end']);
    const fromStart = await (await openStream(h.base, `/v2/tasks/${id}/events`)).rest();
    expect(fromStart).toHaveLength(5);
    expect(h.gw.eventsCalls[calls + 2]?.afterPosition).toBeUndefined();
    const afterEnd = await (await openStream(h.base, `/v2/tasks/${id}/events`, { 'last-event-id': 'end' })).rest();
    expect(afterEnd).toEqual([]);
    // Ids of the old stream-sequence scheme are refused, not misread.
    expectError(await call(h.base, 'GET', `/v2/tasks/${id}/events`, { headers: { 'last-event-id': '12-1' } }), 400, 'INVALID_PARAMS');
  });

  it('api-http - a token batch is one frame per token, each with its own id; batch=true keeps it whole', async () => {
    const id = 'sse-batch';
    h.gw.addTask(specOf(id));
    const batch = [0, 1, 2].map((i) => ({ t: `t${i}`, i }));
    for (const e of [{ type: 'token', task_id: id, data: { batch } } as const, tokenEvent(id, 3), endEvent(id, 4)]) h.gw.push(id, e);
    const frames = await (await openStream(h.base, `/v2/tasks/${id}/events`)).rest();
    expect(frames.map((f) => f.id)).toEqual(['1', '2', '3', '4', 'end']);
    expect(frames.slice(0, 4).map((f) => JSON.parse(f.data!) as unknown)).toEqual([...batch, { t: 't3', i: 3 }]);
    const whole = await (await openStream(h.base, `/v2/tasks/${id}/events?batch=true`)).rest();
    expect(whole.map((f) => f.id)).toEqual(['3', '4', 'end']);
    expect(JSON.parse(whole[0]!.data!)).toEqual({ batch });
    expect(JSON.parse(whole[1]!.data!)).toEqual({ t: 't3', i: 3 });
    expectError(await call(h.base, 'GET', `/v2/tasks/${id}/events?batch=maybe`), 400, 'INVALID_PARAMS');
  });

  it('api-http - Last-Event-ID inside a batch resumes right after that token', async () => {
    const id = 'sse-batch-resume';
    h.gw.addTask(specOf(id));
    const batch = [0, 1, 2, 3].map((i) => ({ t: `t${i}`, i }));
    h.gw.push(id, { type: 'token', task_id: id, data: { batch } });
    h.gw.push(id, endEvent(id, 4));
    const calls = h.gw.eventsCalls.length;
    const afterSecond = await (await openStream(h.base, `/v2/tasks/${id}/events`, { 'last-event-id': '2' })).rest();
    expect(h.gw.eventsCalls[calls]?.afterPosition).toBe(2);
    expect(afterSecond.map((f) => f.id)).toEqual(['3', '4', 'end']);
    expect(afterSecond.slice(0, 2).map((f) => (JSON.parse(f.data!) as { i: number }).i)).toEqual([2, 3]);
    const afterThird = await (await openStream(h.base, `/v2/tasks/${id}/events?batch=true&last_event_id=3`)).rest();
    expect(afterThird.map((f) => f.id)).toEqual(['4', 'end']);
    expect(JSON.parse(afterThird[0]!.data!)).toEqual({ batch: [batch[3]] });
    const afterAll = await (await openStream(h.base, `/v2/tasks/${id}/events`, { 'last-event-id': '4' })).rest();
    expect(afterAll.map((f) => f.id)).toEqual(['end']);
  });

  it('api-http - POST /v2/tasks with Accept: text/event-stream streams the task in the same request', async () => {
    const id = 'sse-post';
    const calls = h.gw.eventsCalls.length;
    const s = await openStream(h.base, '/v2/tasks', { accept: 'text/event-stream', 'x-correlation-id': 'corr-post-sse' }, { task_id: id, model: 'm', prompt: 'p' });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['x-correlation-id']).toBe('corr-post-sse');
    expect(s.headers['location']).toBe(`/v2/tasks/${id}`);
    expect(s.headers['content-location']).toBe(`/v2/tasks/${id}/events`);
    expect(s.headers['x-task-id']).toBe(id);
    expect(h.gw.submitted.find((x) => x.spec.task_id === id)?.correlationId).toBe('corr-post-sse');
    // The stream reads the task from its first event.
    expect((await h.gw.eventsCall(calls + 1)).afterPosition).toBeUndefined();
    const started = { type: 'started', task_id: id, data: { queue_position: 0, predicted_start_ms: 100 } } as const;
    for (const e of [started, tokenEvent(id, 0), endEvent(id, 1)]) h.gw.push(id, e);
    const frames = await s.rest();
    expect(frames.map((f) => f.event)).toEqual(['started', 'token', 'end']);
    expect(frames.map((f) => f.id)).toEqual(['0', '1', 'end']);
  });

  it('api-http - a streamed POST keeps ?batch=true, and refuses a bad one before admitting anything', async () => {
    const id = 'sse-post-batch';
    const s = await openStream(h.base, '/v2/tasks?batch=true', { accept: 'text/event-stream' }, { task_id: id, model: 'm', prompt: 'p' });
    const batch = [0, 1].map((i) => ({ t: `t${i}`, i }));
    h.gw.push(id, { type: 'token', task_id: id, data: { batch } });
    h.gw.push(id, endEvent(id, 2));
    const frames = await s.rest();
    expect(frames.map((f) => f.event)).toEqual(['token', 'end']);
    expect(JSON.parse(frames[0]!.data!)).toEqual({ batch });
    const before = h.gw.submitted.length;
    const bad = await call(h.base, 'POST', '/v2/tasks?batch=maybe', { json: { task_id: 'sse-post-bad', model: 'm', prompt: 'p' }, headers: { accept: 'text/event-stream' } });
    expectError(bad, 400, 'INVALID_PARAMS');
    expect(h.gw.submitted.length).toBe(before);
  });

  it('api-http - a streamed POST that is not admitted gets the plain error status and envelope', async () => {
    h.gw.submitErrors.push(new DroverError('ADMISSION_REJECT', 'queue full', { retryAfterMs: 2_500 }));
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' }, headers: { accept: 'text/event-stream' } });
    expect(expectError(res, 429, 'ADMISSION_REJECT').retry_after_ms).toBe(2_500);
    expect(res.headers['retry-after']).toBe('3');
    const invalid = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm' }, headers: { accept: 'text/event-stream' } });
    expectError(invalid, 400, 'INVALID_PARAMS');
  });

  it('api-http - a client that hangs up during a streamed submit leaves the task admitted and no reader behind', async () => {
    let admit!: () => void;
    h.gw.submitGates.push(new Promise<void>((resolve) => (admit = resolve)));
    const calls = h.gw.eventsCalls.length;
    const ac = new AbortController();
    const pending = request(`${h.base}/v2/tasks`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ task_id: 'sse-post-gone', model: 'm', prompt: 'p' }),
      signal: ac.signal,
    }).catch((err: unknown) => err);
    await waitFor('the submit to wait at its gate', () => h.gw.submitGates.length === 0);
    const open = await connections(h.app);
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    // The server has seen the hang-up before the admission comes back.
    await waitFor('the server to drop the connection', async () => (await connections(h.app)) < open);
    admit();
    await waitFor('the task to be admitted', async () => (await h.gw.get('sse-post-gone')) !== undefined);
    const beforeGet = h.gw.eventsCalls.length;
    // The task stays admitted and its events can be read later.
    h.gw.push('sse-post-gone', endEvent('sse-post-gone', 0));
    const frames = await (await openStream(h.base, '/v2/tasks/sse-post-gone/events')).rest();
    expect(frames.map((f) => f.id)).toEqual(['end']);
    // No reader was opened for the client that left (one would wait for a `drain` forever).
    expect(h.gw.eventsCalls.slice(calls, beforeGet)).toEqual([]);
  });

  it('api-http - a POST that accepts JSON (or anything) still gets the 202', async () => {
    for (const accept of ['application/json', '*/*']) {
      const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' }, headers: { accept } });
      expect(res.status).toBe(202);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    }
  });

  it('api-http - a client disconnect aborts the signal given to gateway.events', async () => {
    const id = 'sse-gone';
    h.gw.addTask(specOf(id));
    h.gw.push(id, tokenEvent(id, 0));
    const calls = h.gw.eventsCalls.length;
    const s = await openStream(h.base, `/v2/tasks/${id}/events`);
    expect((await s.next())?.event).toBe('token');
    const { signal } = await h.gw.eventsCall(calls + 1);
    expect(signal.aborted).toBe(false);
    s.abort();
    await aborted(signal);
    expect(signal.aborted).toBe(true);
  });

  it('api-http - a failure after the stream opened becomes an error event (status stays 200)', async () => {
    const id = 'sse-fail';
    h.gw.addTask(specOf(id));
    h.gw.push(id, tokenEvent(id, 0));
    h.gw.fail(id, new DroverError('WORKER_RESET', 'engine died', { engine: 'vllm' }));
    const s = await openStream(h.base, `/v2/tasks/${id}/events`, { 'x-correlation-id': 'corr-midstream' });
    expect(s.status).toBe(200);
    const frames = await s.rest();
    expect(frames.map((f) => f.event)).toEqual(['token', 'error']);
    expect(JSON.parse(frames[1]!.data!)).toEqual({
      code: 'WORKER_RESET',
      message: 'engine died',
      retriable: true,
      engine: 'vllm',
      correlation_id: 'corr-midstream',
    });

    const id2 = 'sse-defect';
    h.gw.addTask(specOf(id2));
    h.gw.fail(id2, new Error('kv exploded'));
    const frames2 = await (await openStream(h.base, `/v2/tasks/${id2}/events`)).rest();
    expect(frames2).toHaveLength(1);
    expect(frames2[0]!.event).toBe('error');
    expect(JSON.parse(frames2[0]!.data!)).toMatchObject({ code: 'INTERNAL', message: 'internal error' });
  });

  it('api-http - SSE honours backpressure and delivers large streams whole and in order', async () => {
    const id = 'sse-big';
    h.gw.addTask(specOf(id));
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 200; i += 1) h.gw.push(id, tokenEvent(id, i, big));
    h.gw.push(id, endEvent(id, 200));
    const frames = await (await openStream(h.base, `/v2/tasks/${id}/events`)).rest();
    expect(frames).toHaveLength(201);
    frames.slice(0, 200).forEach((f, i) => expect(JSON.parse(f.data!)).toEqual({ t: big, i }));
    expect(frames[200]!.event).toBe('end');
  });

  it('api-http - GET /v2/pools lists pool views; health and capabilities are derived from them', async () => {
    h.gw.poolViews = [
      pool('p1', {
        slots_total: 4,
        slots_busy: 1,
        queued: 3,
        replicas: [
          replica('r1', { pool_id: 'p1', health: 'unready', last_error: 'probe timeout', ctx_max: 8192 }),
          replica('r2', { pool_id: 'p1', health: 'ready', last_error: 'later error', ctx_max: 32768 }),
        ],
      }),
      pool('p2', { engine: 'llamacpp', state: 'draining', replicas: [replica('r3', { pool_id: 'p2', engine: 'llamacpp', health: 'unknown' })] }),
      pool('p3', { slots_total: 2, replicas: [] }),
    ];
    const list = await call(h.base, 'GET', '/v2/pools');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text)).toEqual({ pools: h.gw.poolViews });

    const health = await call(h.base, 'GET', '/v2/pools/p1/health');
    expect(JSON.parse(health.text)).toEqual({
      pool_id: 'p1',
      live: true,
      ready: true,
      draining: false,
      last_error: 'probe timeout',
      metrics: { replicas_ready: 1, replicas_total: 2, slots_total: 4, slots_busy: 1, queued: 3 },
    });
    const draining = JSON.parse((await call(h.base, 'GET', '/v2/pools/p2/health')).text) as Record<string, unknown>;
    expect(draining).toMatchObject({ pool_id: 'p2', live: false, ready: false, draining: true });
    expect(draining).not.toHaveProperty('last_error');
    expectError(await call(h.base, 'GET', '/v2/pools/nope/health'), 404, 'NOT_FOUND');

    const caps = await call(h.base, 'GET', '/v2/meta/capabilities');
    expect(JSON.parse(caps.text)).toEqual({
      api_version: '2.0',
      engines: [
        { engine: 'llamacpp', supported_workloads: ['completion'], max_tokens_out: 131_072, slots: 2, pools: ['p2'] },
        { engine: 'vllm', ctx_max: 32768, supported_workloads: ['completion'], max_tokens_out: 131_072, slots: 6, pools: ['p1', 'p3'] },
      ],
    });
  });

  it('api-http - a failing pools() is INTERNAL 500', async () => {
    h.gw.poolsError = new Error('nats timeout');
    expectError(await call(h.base, 'GET', '/v2/pools'), 500, 'INTERNAL');
    h.gw.poolsError = undefined;
  });

  it('api-http - /healthz is ok; /readyz follows gateway.ready()', async () => {
    const health = await call(h.base, 'GET', '/healthz');
    expect([health.status, JSON.parse(health.text)]).toEqual([200, { status: 'ok' }]);
    expect(JSON.parse((await call(h.base, 'GET', '/readyz')).text)).toEqual({ status: 'ready' });
    h.gw.isReady = false;
    const unready = await call(h.base, 'GET', '/readyz');
    expect([unready.status, JSON.parse(unready.text)]).toEqual([503, { status: 'unready' }]);
    h.gw.isReady = true;
  });

  it('api-http - /metrics exposes drover_http_requests_total by route pattern', async () => {
    const res = await call(h.base, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/drover_http_requests_total\{method="POST",route="\/v2\/tasks",status="202"\} \d+/);
    expect(res.text).toMatch(/drover_http_requests_total\{method="GET",route="\/v2\/tasks\/:id\/events",status="200"\} \d+/);
    expect(res.text).toMatch(/drover_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
    expect(res.text).toContain('drover_http_request_duration_seconds_bucket');
    expect(res.text).not.toContain('/v2/tasks/view-1');
  });

  it('api-http - per-request logs are debug, carry the correlation id, and never contain the Authorization header', async () => {
    await call(h.base, 'GET', '/healthz', { headers: { 'x-correlation-id': 'corr-log', authorization: `Bearer ${TOKEN}` } });
    const lines = h.logs.map((l) => JSON.parse(l) as { level: number; msg: string; correlation_id?: string });
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed.length).toBeGreaterThan(10);
    expect(completed.every((l) => l.level === 20)).toBe(true);
    expect(completed.some((l) => l.correlation_id === 'corr-log')).toBe(true);
    expect(lines.filter((l) => l.level === 30 && l.correlation_id !== undefined)).toEqual([]);
    expect(h.logs.join('\n')).not.toContain(TOKEN);
  });

  it('api-http - the API stops at the terminal event even if the gateway keeps going', async () => {
    const id = 'sse-chatty';
    h.gw.addTask(specOf(id));
    h.gw.push(id, tokenEvent(id, 0));
    h.gw.push(id, endEvent(id, 1));
    h.gw.push(id, tokenEvent(id, 1));
    h.gw.ignoreTerminal = true;
    try {
      const frames = await (await openStream(h.base, `/v2/tasks/${id}/events`)).rest();
      expect(frames.map((f) => f.event)).toEqual(['token', 'end']);
    } finally {
      h.gw.ignoreTerminal = false;
    }
  });

  it('api-http - HEAD on the event stream opens no subscription', async () => {
    h.gw.addTask(specOf('head'));
    const before = h.gw.eventsCalls.length;
    const res = await request(`${h.base}/v2/tasks/head/events`, { method: 'HEAD' });
    await res.body.text();
    expect(res.statusCode).toBe(404);
    expect(h.gw.eventsCalls.length).toBe(before);
  });

  it('api-http - credentials are censored in logged headers and the caller\'s redaction still applies', async () => {
    h.app.log.warn({ headers: { authorization: `Bearer ${TOKEN}`, accept: 'x' }, caller_secret: TOKEN }, 'probe line');
    const line = JSON.parse(h.logs.find((l) => l.includes('probe line'))!) as { headers: Record<string, string>; caller_secret: string };
    expect(line.headers).toEqual({ authorization: '[redacted]', accept: 'x' });
    expect(line.caller_secret).toBe('[Redacted]');
  });

  it('api-http - the server survived everything above', async () => {
    const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'still here' } });
    expect(res.status).toBe(202);
  });
});

describe('api-http - with an API token', () => {
  let h: Harness;
  const auth = { authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    h = await start({ apiToken: TOKEN, heartbeatMs: 20 });
  });
  afterAll(async () => {
    await h.app.close();
  });

  it('api-http - missing or wrong bearer token is 401 with WWW-Authenticate: Bearer', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: 'Bearer' },
    ];
    for (const headers of cases) {
      const res = await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' }, headers: { ...headers, 'x-correlation-id': 'corr-401' } });
      const env = expectError(res, 401, 'UNAUTHORIZED');
      expect(env.correlation_id).toBe('corr-401');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect(h.gw.submitted).toHaveLength(0);
    for (const path of ['/v2/pools', '/v2/meta/capabilities', '/metrics', '/v2/tasks/x/events']) {
      expectError(await call(h.base, 'GET', path), 401, 'UNAUTHORIZED');
    }
  });

  it('api-http - unknown routes answer 404 without a token (auth guards routes, not the void)', async () => {
    expectError(await call(h.base, 'GET', '/nope'), 404, 'NOT_FOUND');
  });

  it('api-http - the right token passes; /healthz and /readyz need none', async () => {
    expect((await call(h.base, 'POST', '/v2/tasks', { json: { model: 'm', prompt: 'p' }, headers: auth })).status).toBe(202);
    expect((await call(h.base, 'GET', '/metrics', { headers: auth })).status).toBe(200);
    expect((await call(h.base, 'GET', '/healthz')).status).toBe(200);
    expect((await call(h.base, 'GET', '/readyz')).status).toBe(200);
  });

  it('api-http - an idle SSE stream gets `: ping` heartbeats', async () => {
    h.gw.addTask(specOf('idle'));
    const s = await openStream(h.base, '/v2/tasks/idle/events', auth);
    expect(s.status).toBe(200);
    const frame = await s.next();
    expect(frame).toEqual({ comments: ['ping'] });
    h.gw.push('idle', endEvent('idle', 0));
    const rest = await s.rest();
    expect(rest.filter((f) => f.event !== undefined).map((f) => f.event)).toEqual(['end']);
  });

  it('api-http - the token never reaches the logs', async () => {
    expect(h.logs.length).toBeGreaterThan(0);
    expect(h.logs.join('\n')).not.toContain(TOKEN);
  });

  it('api-http - an empty token is refused at build time', async () => {
    const err = await errorFrom(buildApi({ gateway: new FakeGateway(), logger: pino({ level: 'silent' }), registry: new Registry(), apiToken: '' }));
    expect(err).toBeInstanceOf(Error);
  });
});

describe('api-http - shutdown', () => {
  it('api-http - close() ends open event streams and aborts their gateway iterators', async () => {
    const h = await start();
    h.gw.addTask(specOf('long'));
    h.gw.push('long', tokenEvent('long', 0));
    const s = await openStream(h.base, '/v2/tasks/long/events');
    expect((await s.next())?.event).toBe('token');
    const { signal } = await h.gw.eventsCall(1);
    await h.app.close();
    expect(signal.aborted).toBe(true);
    expect(await s.rest()).toEqual([]);
  });
});
