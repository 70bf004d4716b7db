import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode, encodingOf, normalizeTaskRequest, TaskRequestSchema, MAX_TOKENS_LIMIT, subjects, taskIdFromSubject } from '../../../src/protocols/index.js';

describe('tasks - request schema', () => {
  it('accepts model + prompt alone, with the documented defaults', () => {
    const r = TaskRequestSchema.parse({ model: 'm', prompt: 'p' });
    const spec = normalizeTaskRequest(r, () => 'id-1');
    expect(spec).toEqual({ task_id: 'id-1', session_id: 'id-1', model: 'm', prompt: 'p', max_tokens: 256, priority: 'interactive', deadline_ms: 600_000 });
  });

  it('takes model_ref as the model and joins inputs when there is no prompt', () => {
    const spec = normalizeTaskRequest(TaskRequestSchema.parse({ model_ref: 'hf:org/repo', inputs: ['a', 'b'], task_id: 't-1' }), () => 'x');
    expect(spec).toMatchObject({ task_id: 't-1', model: 'hf:org/repo', prompt: 'a\nb' });
  });

  it.each([
    [{ prompt: 'p' }, 'model'],
    [{ model: 'm' }, 'prompt'],
    [{ model: 'm', prompt: 'p', max_tokens: -1 }, 'max_tokens'],
    [{ model: 'm', prompt: 'p', max_tokens: MAX_TOKENS_LIMIT + 1 }, 'max_tokens'],
    [{ model: 'm', prompt: 'p', max_tokens: 1.5 }, 'max_tokens'],
    [{ model: 'm', prompt: 42 }, 'prompt'],
    [{ model: 'm', prompt: 'p', priority: 'urgent' }, 'priority'],
    [{ model: 'm', prompt: 'p', task_id: 'a.b' }, 'task_id'],
    [{ model: 'a', model_ref: 'b', prompt: 'p' }, 'model'],
  ])('rejects %j at %s', (body, path) => {
    const r = TaskRequestSchema.safeParse(body);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('never throws on arbitrary JSON, only succeeds or reports issues', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const r = TaskRequestSchema.safeParse(v);
      return r.success || r.error.issues.length > 0;
    }));
  });
});

describe('codec - msgpack by default, JSON on request', () => {
  it('round-trips values in both encodings', () => {
    // `__proto__` is the one key msgpack does not keep (see the next test).
    const key = fc.string().filter((k) => k !== '__proto__');
    fc.assert(fc.property(fc.dictionary(key, fc.oneof(fc.string(), fc.integer(), fc.boolean())), (v) => {
      expect(decode(encode(v))).toEqual(v);
      expect(decode(encode(v, 'json'), 'json')).toEqual(v);
    }));
  });

  it('never lets a msgpack payload set a prototype: msgpackr renames a `__proto__` key', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const decoded = decode(encode(hostile)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded).sort()).toEqual(['__proto_', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('picks JSON only for application/json', () => {
    expect(encodingOf('application/json; charset=utf-8')).toBe('json');
    expect(encodingOf(undefined)).toBe('msgpack');
    expect(encodingOf('application/msgpack')).toBe('msgpack');
  });

  it('builds subjects only from safe tokens', () => {
    expect(subjects.taskEvents('abc-1')).toBe('drover.tasks.abc-1.events');
    expect(() => subjects.taskEvents('a.b')).toThrow();
    expect(() => subjects.taskCancel('*')).toThrow();
    expect(taskIdFromSubject('drover.tasks.t-9.cancel')).toBe('t-9');
    expect(taskIdFromSubject('drover.pools.x.status')).toBeUndefined();
  });
});
