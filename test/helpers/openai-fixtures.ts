/**
 * The OpenAI/vLLM-shaped SSE fixtures of test/fixtures (copied from shared/reference/fixtures) and what each one must decode
 * to, shared by the unit test of the chunk parser and the integration test of VllmAdapter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures: copies of shared/reference/fixtures kept in the repo so a clone alone runs the tests. */
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** What a fixture decodes to: its tokens, then an `end` or an engine error. */
export interface FixtureExpectation {
  tokens: string[];
  end?: { finish_reason: string | null; usage?: { prompt_tokens: number; completion_tokens: number } };
  error?: { messageIncludes: string; status: number };
}

/** Every OpenAI-shaped fixture, by file name. */
export const OPENAI_FIXTURES: Record<string, FixtureExpectation> = {
  'chat_stream_with_usage.sse': {
    tokens: ['The', ' capital', ' of', ' France', ' is', ' Paris', '.'],
    end: { finish_reason: 'stop', usage: { prompt_tokens: 36, completion_tokens: 8 } },
  },
  'chat_stream_error_midstream.sse': {
    tokens: ['Hello'],
    error: { messageIncludes: 'EngineCore encountered an issue. See stack trace (above) for the root cause.', status: 500 },
  },
  'completions_stream.sse': {
    tokens: [' Paris', '.'],
    end: { finish_reason: 'stop' },
  },
  'completions_stream_with_usage.sse': {
    tokens: [' Paris', '.', ' It', ' is', ' known', ' for'],
    end: { finish_reason: 'length', usage: { prompt_tokens: 7, completion_tokens: 6 } },
  },
};

/** Names of the `*.sse` fixtures in OpenAI shape (vLLM chat and completions), read from disk. */
export function openAiFixtureFiles(): string[] {
  return readdirSync(FIXTURES_DIR)
    .filter((name) => name.endsWith('.sse') && (name.startsWith('chat_') || name.startsWith('completions_')))
    .sort();
}

/** The fixture's exact bytes. */
export function readFixture(name: string): Buffer {
  return readFileSync(`${FIXTURES_DIR}${name}`);
}
