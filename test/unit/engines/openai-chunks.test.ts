import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseErrorBody, parseOpenAiStreamData, readChunk, readCommonChunk, readVllmTokenText } from '../../../src/engines/openai-chunks.js';
import { OpenAiStreamDecoder } from '../../../src/engines/openai-stream.js';
import { EngineError, type EngineChunk } from '../../../src/engines/types.js';
import { OPENAI_FIXTURES, openAiFixtureFiles, readFixture, type FixtureExpectation } from '../../helpers/openai-fixtures.js';

/** Feeds `pieces` to a fresh decoder; returns the chunks and the error it reported, if any. */
function decode(pieces: string[]): { chunks: EngineChunk[]; error: unknown; done: boolean } {
  const decoder = new OpenAiStreamDecoder();
  const chunks: EngineChunk[] = [];
  for (const piece of pieces) {
    chunks.push(...decoder.feed(piece));
    if (decoder.error !== undefined) break;
  }
  return { chunks, error: decoder.error, done: decoder.done };
}

/**
 * Checks that `fast` answers like `general` for every input of `arb` it answers at all (undefined
 * means "not mine"); returns how many inputs it answered.
 */
function agreeWhenAnswering<T>(arb: fc.Arbitrary<T>, fast: (input: T) => unknown, general: (input: T) => unknown, numRuns: number): number {
  let answered = 0;
  fc.assert(
    fc.property(arb, (input) => {
      const answer = fast(input);
      if (answer === undefined) return;
      answered += 1;
      expect(answer).toEqual(general(input));
    }),
    { numRuns },
  );
  return answered;
}

function expectMatches(result: ReturnType<typeof decode>, expected: FixtureExpectation): void {
  const tokens = result.chunks.filter((c) => c.type === 'token').map((c) => c.text);
  expect(tokens).toEqual(expected.tokens);
  if (expected.end !== undefined) {
    expect(result.error).toBeUndefined();
    expect(result.done).toBe(true);
    expect(result.chunks.at(-1)).toEqual({ type: 'end', ...expected.end });
    expect(result.chunks.filter((c) => c.type === 'end')).toHaveLength(1);
  } else {
    expect(result.error).toBeInstanceOf(EngineError);
    const error = result.error as EngineError;
    expect(error.kind).toBe('stream');
    expect(error.status).toBe(expected.error?.status);
    expect(error.message).toContain(expected.error?.messageIncludes);
    expect(result.chunks.some((c) => c.type === 'end')).toBe(false);
  }
}

describe('openai chunks - fixtures', () => {
  it('openai chunks - every OpenAI-shaped fixture on disk has an expectation', () => {
    expect(openAiFixtureFiles()).toEqual(Object.keys(OPENAI_FIXTURES).sort());
  });

  for (const [name, expected] of Object.entries(OPENAI_FIXTURES)) {
    it(`openai chunks - ${name} decodes to its tokens and end exactly`, () => {
      expectMatches(decode([readFixture(name).toString('utf8')]), expected);
    });

    it(`openai chunks - ${name} decodes the same whatever the split points`, () => {
      const text = readFixture(name).toString('utf8');
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }), (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), text.length];
          const pieces = points.slice(1).map((end, i) => text.slice(points[i], end));
          expectMatches(decode(pieces), expected);
        }),
        { numRuns: 200 },
      );
    });
  }
});

describe('openai chunks - single events', () => {
  it('openai chunks - [DONE] is the end sentinel', () => {
    expect(parseOpenAiStreamData('[DONE]')).toEqual({ kind: 'done' });
  });

  it('openai chunks - unknown keys of newer vLLM versions are ignored', () => {
    const data =
      '{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","system_fingerprint":"x","choices":[{"index":0,"text":" hi","logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,"token_ids":[5]}],"usage":null}';
    expect(parseOpenAiStreamData(data)).toEqual({ kind: 'chunk', text: ' hi', finishReason: null, usage: undefined });
  });

  it('openai chunks - a chat chunk with a stop_reason and the last text', () => {
    const data =
      '{"id":"chatcmpl-9814ea0f38ec847a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" end"},"logprobs":null,"finish_reason":"stop","stop_reason":128001}]}';
    expect(parseOpenAiStreamData(data)).toEqual({ kind: 'chunk', text: ' end', finishReason: 'stop', usage: undefined });
  });

  it('openai chunks - the older flat error form inside a stream is an error', () => {
    const data = '{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}';
    expect(parseOpenAiStreamData(data)).toEqual({ kind: 'error', error: { message: 'boom', type: 'InternalServerError', code: 500 } });
  });

  it('openai chunks - garbage is a stream error', () => {
    expect(() => parseOpenAiStreamData('{not json')).toThrow(EngineError);
    expect(() => parseOpenAiStreamData('{"object":"something.else"}')).toThrow(/unexpected stream event/);
  });
});

describe('openai chunks - error bodies', () => {
  it('openai chunks - nested, flat and auth forms give the message', () => {
    expect(parseErrorBody('{"error":{"message":"The model `foo` does not exist.","type":"NotFoundError","param":"model","code":404}}')).toEqual({
      message: 'The model `foo` does not exist.',
      type: 'NotFoundError',
      code: 404,
    });
    expect(parseErrorBody('{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}')).toEqual({
      message: 'bad',
      type: 'BadRequestError',
      code: 400,
    });
    expect(parseErrorBody('{"error": "Unauthorized"}')).toEqual({ message: 'Unauthorized', type: undefined, code: undefined });
    expect(parseErrorBody('Internal Server Error')).toBeUndefined();
    expect(parseErrorBody('{"detail":"Not Found"}')).toBeUndefined();
  });
});

describe('openai chunks - the common-chunk fast path', () => {
  const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> => fc.oneof(arb, fc.constant(null), fc.constant(undefined));
  const odd = fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}), fc.string());
  const withOdd = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: odd });
  /** Drops the keys whose value is undefined, as JSON would. */
  const compact = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  /** Mostly absent, sometimes anything `arb` gives. */
  const rarely = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
  const choice = fc.record({
    index: withOdd(fc.constantFrom(0, 0, 0, 1)),
    text: withOdd(maybe(fc.string())),
    delta: withOdd(fc.record({ content: withOdd(maybe(fc.string())), role: rarely(maybe(fc.constant('assistant'))) }).map(compact)),
    finish_reason: withOdd(maybe(fc.constantFrom('stop', 'length'))),
    stop_reason: rarely(withOdd(maybe(fc.oneof(fc.string(), fc.integer())))),
  }).map(compact);
  const chunk = fc.record({
    id: withOdd(fc.option(fc.string(), { nil: undefined })),
    object: fc.constantFrom('text_completion', 'chat.completion.chunk', 'error', undefined),
    created: withOdd(fc.option(fc.integer(), { nil: undefined })),
    model: withOdd(fc.option(fc.string(), { nil: undefined })),
    choices: withOdd(fc.oneof({ weight: 3, arbitrary: fc.array(choice, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(choice, { maxLength: 3 }) })),
    usage: rarely(withOdd(maybe(fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() })))),
  }).map(compact);

  it('answers exactly as the schema does whenever it answers at all', () => {
    // The generator must reach the fast path often enough for the comparison to mean something.
    const answered = agreeWhenAnswering(chunk.map((raw): unknown => JSON.parse(JSON.stringify(raw))), readCommonChunk, readChunk, 3_000);
    expect(answered).toBeGreaterThan(100);
  });

  it('takes the chunks engines send for each token', () => {
    const completion = { id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text: 'Hi', logprobs: null, finish_reason: null, stop_reason: null }] };
    const chat = { id: 'c-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: ' there' }, logprobs: null, finish_reason: null }] };
    expect(readCommonChunk(completion)).toEqual({ kind: 'chunk', text: 'Hi', finishReason: null, usage: undefined });
    expect(readCommonChunk(chat)).toEqual({ kind: 'chunk', text: ' there', finishReason: null, usage: undefined });
    expect(readCommonChunk({ ...completion, usage: { prompt_tokens: 1, completion_tokens: 1 } })).toBeUndefined();
  });
});

describe('openai chunks - the vLLM token-line fast path', () => {
  /** A token chunk serialized as vLLM does: its key order, no spaces, ids and model names that need no escape. */
  const vllmLine = fc
    .record({
      chat: fc.boolean(),
      id: fc.stringMatching(/^[A-Za-z0-9-]{0,12}$/),
      model: fc.stringMatching(/^[A-Za-z0-9._/ -]{0,12}$/),
      created: fc.nat(),
      text: fc.string({ unit: 'binary', maxLength: 8 }),
      finish: fc.constantFrom(null, 'stop', 'length'),
      usage: fc.boolean(),
      stopReason: fc.boolean(),
    })
    .map(({ chat, id, model, created, text, finish, usage, stopReason }) => {
      const head = { id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model };
      const choice = chat
        ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: finish, ...(stopReason ? { stop_reason: null } : {}) }
        : { index: 0, text, logprobs: null, finish_reason: finish, stop_reason: null };
      return JSON.stringify({ ...head, choices: [choice], ...(usage ? { usage: null } : {}) });
    });
  /** One character inserted, deleted or replaced, mostly where it changes the JSON's meaning. */
  const edited = fc
    .tuple(vllmLine, fc.nat(), fc.constantFrom('delete', 'insert', 'replace'), fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', '\u0001', '0', 'n', 'x', 'é'))
    .map(([line, at, op, ch]) => {
      const i = at % (line.length + 1);
      if (op === 'insert') return line.slice(0, i) + ch + line.slice(i);
      return line.slice(0, i) + (op === 'replace' ? ch : '') + line.slice(i + 1);
    });

  /** What the general path makes of `line`: JSON.parse, then the chunk schema. */
  function general(line: string): unknown {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return 'not json';
    }
    return readChunk(json) ?? 'not a chunk';
  }

  it('reads every token line vLLM writes, as the general path does', () => {
    fc.assert(
      fc.property(vllmLine, (line) => {
        const fast = readVllmTokenText(line);
        expect(fast).toBeDefined();
        expect(fast).toEqual(general(line));
        expect(parseOpenAiStreamData(line)).toEqual(fast);
      }),
      { numRuns: 3_000 },
    );
  });

  it('answers for an edited line only when the general path reads the same chunk', () => {
    // Edits inside the text or the ids keep many lines valid: the comparison must have been made.
    expect(agreeWhenAnswering(edited, readVllmTokenText, general, 5_000)).toBeGreaterThan(200);
  });

  it('leaves other lines to the general path', () => {
    const line = '{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"a","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}';
    expect(readVllmTokenText(line)).toEqual({ kind: 'chunk', text: 'a', finishReason: null, usage: undefined });
    expect(readVllmTokenText(line.replace('"index":0', '"index": 0'))).toBeUndefined();
    expect(readVllmTokenText(line.replace('"usage":null', '"usage":{"prompt_tokens":1,"completion_tokens":1}'))).toBeUndefined();
    expect(readVllmTokenText(line.replace('"stop_reason":null', '"stop_reason":"</s>"'))).toBeUndefined();
    expect(readVllmTokenText(line.replace('"id":"c"', '"id":"c\\"d"'))).toBeUndefined();
    expect(readVllmTokenText(line.replace('"text":"a"', '"text":"\\x"'))).toBeUndefined();
  });

  it('unescapes a text literal only when it holds an escape; a raw control character is left to the general path (which refuses it)', () => {
    const line = (literal: string): string =>
      `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":${literal},"logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}`;
    expect(readVllmTokenText(line('" café 日本"'))).toMatchObject({ text: ' café 日本' });
    expect(readVllmTokenText(line('"a\\"b\\nc"'))).toMatchObject({ text: 'a"b\nc' });
    expect(readVllmTokenText(line('"a\tb"'))).toBeUndefined();
    expect(() => parseOpenAiStreamData(line('"a\tb"'))).toThrow(/unparsable stream event/);
  });
});

describe('openai stream - bytes as they come off the socket', () => {
  const tokens = ['Bonjour', ' é', '日本', '語', ' 🙂', '\u00a0ok'];
  const body = Buffer.from(
    [
      ...tokens.map((text) => `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text, logprobs: null, finish_reason: null, stop_reason: null }], usage: null })}\n\n`),
      'data: [DONE]\n\n',
    ].join(''),
    'utf8',
  );

  it('decodes the same tokens whatever the byte split, inside a character included', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 60 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), body.length];
        const decoder = new OpenAiStreamDecoder();
        const chunks = points.slice(1).flatMap((end, i) => decoder.feedBytes(body.subarray(points[i], end)));
        expect(decoder.error).toBeUndefined();
        expect(chunks).toEqual([...tokens.map((text) => ({ type: 'token', text })), { type: 'end', finish_reason: null }]);
      }),
      { numRuns: 500 },
    );
  });
});
