import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseErrorBody, parseOpenAiStreamData } from '../../../src/engines/openai-chunks.js';
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
