import { describe, expect, it } from 'vitest';
import { EngineError, MockAdapter, VllmAdapter, createEngineAdapter, type EngineChunk } from '../../../src/engines/index.js';

async function run(adapter: MockAdapter, maxTokens: number, signal = new AbortController().signal, onToken?: () => void): Promise<{ chunks: EngineChunk[]; error?: EngineError }> {
  const chunks: EngineChunk[] = [];
  try {
    for await (const step of adapter.stream({ model: 'm', prompt: 'two words', max_tokens: maxTokens }, signal)) {
      for (const chunk of step) {
        chunks.push(chunk);
        if (chunk.type === 'token') onToken?.();
      }
    }
  } catch (error) {
    if (error instanceof EngineError) return { chunks, error };
    throw error;
  }
  return { chunks };
}

describe('mock adapter - streaming', () => {
  it('mock adapter - made-up tokens up to max_tokens, then end with length and usage', async () => {
    const { chunks } = await run(new MockAdapter({ model: 'm' }), 3);
    expect(chunks).toEqual([
      { type: 'token', text: ' tok0' },
      { type: 'token', text: ' tok1' },
      { type: 'token', text: ' tok2' },
      { type: 'end', finish_reason: 'length', usage: { prompt_tokens: 2, completion_tokens: 3 } },
    ]);
  });

  it('mock adapter - fewer given tokens than max_tokens finish with stop', async () => {
    const { chunks } = await run(new MockAdapter({ model: 'm', tokens: ['a', 'b'] }), 5);
    expect(chunks.map((c) => (c.type === 'token' ? c.text : c.finish_reason))).toEqual(['a', 'b', 'stop']);
  });

  it('mock adapter - faults are set at runtime and fail with the asked kind', async () => {
    const adapter = new MockAdapter({ model: 'm' });
    adapter.configure({ failBeforeFirstToken: 'connect' });
    expect((await run(adapter, 3)).error?.kind).toBe('connect');
    adapter.configure({ failBeforeFirstToken: undefined, failAfterTokens: 2 });
    const broken = await run(adapter, 5);
    expect(broken.chunks).toHaveLength(2);
    expect(broken.error?.kind).toBe('disconnected');
    adapter.configure({ failAfterTokensKind: 'stream' });
    expect((await run(adapter, 5)).error?.kind).toBe('stream');
  });

  it('mock adapter - abort ends the stream with aborted and no token after it', async () => {
    const adapter = new MockAdapter({ model: 'm', interTokenMs: 1 });
    const controller = new AbortController();
    const result = await run(adapter, 100, controller.signal, () => controller.abort());
    expect(result.chunks).toHaveLength(1);
    expect(result.error?.kind).toBe('aborted');
    expect(adapter.activeStreams).toBe(0);
  });

  it('mock adapter - an unknown model is http 404; health, load and check follow the options', async () => {
    const adapter = new MockAdapter({ model: 'm' });
    const chunks = adapter.stream({ model: 'other', prompt: 'x', max_tokens: 1 }, new AbortController().signal);
    await expect(chunks[Symbol.asyncIterator]().next()).rejects.toMatchObject({ kind: 'http', status: 404 });
    expect(await adapter.health()).toEqual({ live: true, ready: true, models: ['m'] });
    adapter.configure({ healthy: false, load: { running: 3, waiting: 1, kv_usage: 0.5 } });
    expect((await adapter.health()).ready).toBe(false);
    expect(await adapter.load()).toEqual({ running: 3, waiting: 1, kv_usage: 0.5 });
    expect(await adapter.check()).toEqual({ live: true, healthy: false, error: 'mock engine set unhealthy' });
    adapter.configure({ healthy: true });
    expect(await adapter.check()).toEqual({ live: true, healthy: true, load: { running: 3, waiting: 1, kv_usage: 0.5 } });
  });
});

describe('engine adapters - factory', () => {
  it('engine adapters - vllm gets a VllmAdapter; mock and unsupported kinds throw clearly', async () => {
    const adapter = createEngineAdapter('vllm', 'http://127.0.0.1:1/');
    expect(adapter).toBeInstanceOf(VllmAdapter);
    expect(adapter.baseUrl).toBe('http://127.0.0.1:1');
    await adapter.close();
    expect(() => createEngineAdapter('mock', 'mock://m')).toThrow(/constructed directly/);
    expect(() => createEngineAdapter('tgi', 'http://x')).toThrow(/not supported yet/);
  });
});
