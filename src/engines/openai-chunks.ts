/**
 * The OpenAI streaming chunk shapes that vLLM (and other OpenAI-compatible servers) send, as zod
 * schemas that ignore unknown keys, and one parser for the `data:` payload of an event that
 * accepts both shapes (`text_completion` and `chat.completion.chunk`), `[DONE]`, and error events.
 * Also reads the error bodies of non-2xx answers (nested `{"error":{…}}` and the older flat form).
 */
import { z } from 'zod';
import { EngineError } from './types.js';

/** Token accounting of a usage chunk. */
export const UsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative().optional(),
});
/** Token accounting of a usage chunk. */
export type Usage = z.infer<typeof UsageSchema>;

const FinishFields = {
  index: z.number().int(),
  finish_reason: z.string().nullish(),
  stop_reason: z.union([z.string(), z.number()]).nullish(),
};

/** One `/v1/completions` stream chunk (`object: "text_completion"`). */
export const CompletionChunkSchema = z.object({
  id: z.string().optional(),
  object: z.literal('text_completion'),
  created: z.number().optional(),
  model: z.string().optional(),
  choices: z.array(z.object({ ...FinishFields, text: z.string().nullish() })),
  usage: UsageSchema.nullish(),
});

/** One `/v1/chat/completions` stream chunk (`object: "chat.completion.chunk"`). */
export const ChatChunkSchema = z.object({
  id: z.string().optional(),
  object: z.literal('chat.completion.chunk'),
  created: z.number().optional(),
  model: z.string().optional(),
  choices: z.array(
    z.object({ ...FinishFields, delta: z.object({ role: z.string().nullish(), content: z.string().nullish() }) }),
  ),
  usage: UsageSchema.nullish(),
});

/** Either streaming chunk shape. */
export const OpenAiChunkSchema = z.discriminatedUnion('object', [CompletionChunkSchema, ChatChunkSchema]);

const ErrorInfoSchema = z.object({
  message: z.string(),
  type: z.string().nullish(),
  code: z.union([z.number(), z.string()]).nullish(),
});

/** vLLM's error JSON: current nested form, older flat form (`object: "error"`), or `{"error": "…"}` (auth). */
export const ErrorPayloadSchema = z
  .union([
    z.object({ error: ErrorInfoSchema }).transform((payload) => payload.error),
    z.object({ object: z.literal('error') }).and(ErrorInfoSchema),
    z.object({ error: z.string() }).transform((payload) => ({ message: payload.error })),
  ])
  .transform((info): EngineErrorInfo => ({
    message: info.message,
    type: 'type' in info ? (info.type ?? undefined) : undefined,
    code: 'code' in info ? (info.code ?? undefined) : undefined,
  }));

/** What an engine reported as an error. */
export interface EngineErrorInfo {
  message: string;
  type?: string | undefined;
  code?: number | string | undefined;
}

/** One parsed SSE `data:` payload. */
export type OpenAiStreamEvent =
  | { kind: 'done' }
  | { kind: 'chunk'; text: string; finishReason: string | null; usage: Usage | undefined }
  | { kind: 'error'; error: EngineErrorInfo };

/** Parses the data of one SSE event; throws EngineError('stream') when it is neither a chunk, an error nor `[DONE]`. */
export function parseOpenAiStreamData(data: string): OpenAiStreamEvent {
  if (data === '[DONE]') return { kind: 'done' };
  const token = readVllmTokenText(data);
  if (token !== undefined) return token;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (error) {
    throw new EngineError('stream', `unparsable stream event: ${data.slice(0, 200)}`, { cause: error });
  }
  const chunk = readCommonChunk(json) ?? readChunk(json);
  if (chunk !== undefined) return chunk;
  const error = ErrorPayloadSchema.safeParse(json);
  if (error.success) return { kind: 'error', error: error.data };
  throw new EngineError('stream', `unexpected stream event: ${data.slice(0, 200)}`);
}

/** A stream chunk of either shape read through {@link OpenAiChunkSchema}; undefined when it is not one. */
export function readChunk(json: unknown): OpenAiStreamEvent | undefined {
  const chunk = OpenAiChunkSchema.safeParse(json);
  if (!chunk.success) return undefined;
  let text = '';
  let finishReason: string | null = null;
  for (const choice of chunk.data.choices) {
    if (choice.index !== 0) continue;
    text += ('delta' in choice ? choice.delta.content : choice.text) ?? '';
    if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
  }
  return { kind: 'chunk', text, finishReason, usage: chunk.data.usage ?? undefined };
}

const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';
const isNullishString = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';

/**
 * The chunk every token of a stream arrives in, read without zod: one per token makes schema
 * parsing a visible share of the relay's CPU. It accepts only a subset of what
 * {@link OpenAiChunkSchema} accepts — no `usage`, no `stop_reason`, one choice with index 0, no
 * `role` — and answers exactly as the schema path does (a property test holds the two together);
 * anything else returns undefined and goes through the schema.
 */
export function readCommonChunk(json: unknown): OpenAiStreamEvent | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  const chat = o['object'] === 'chat.completion.chunk';
  if (!chat && o['object'] !== 'text_completion') return undefined;
  if (!isOptionalString(o['id']) || !isOptionalString(o['model']) || (o['created'] !== undefined && typeof o['created'] !== 'number')) return undefined;
  if (o['usage'] !== undefined && o['usage'] !== null) return undefined;
  const choices = o['choices'];
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice: unknown = choices[0];
  if (typeof choice !== 'object' || choice === null || Array.isArray(choice)) return undefined;
  const c = choice as Record<string, unknown>;
  if (c['index'] !== 0 || !isNullishString(c['finish_reason']) || (c['stop_reason'] !== undefined && c['stop_reason'] !== null)) return undefined;
  let text: unknown;
  if (chat) {
    const delta = c['delta'];
    if (typeof delta !== 'object' || delta === null || Array.isArray(delta)) return undefined;
    const d = delta as Record<string, unknown>;
    if (d['role'] !== undefined) return undefined;
    text = d['content'];
  } else {
    text = c['text'];
  }
  if (!isNullishString(text)) return undefined;
  const finishReason = typeof c['finish_reason'] === 'string' ? c['finish_reason'] : null;
  return { kind: 'chunk', text: (text as string | null | undefined) ?? '', finishReason, usage: undefined };
}

// The token chunks of vLLM's OpenAI server, byte for byte as it serializes them (key order, no
// spaces; see shared/reference/fixtures): only the text and the finish reason vary. `id` and
// `model` must hold no quote, backslash or control character, so the whole line is valid JSON
// exactly when the text literal is.
const PLAIN = String.raw`"[^"\\\u0000-\u001f]*"`;
const TEXT = String.raw`("(?:[^"\\]|\\.)*")`;
const FINISH = String.raw`(null|"[a-z_]+")`;
const VLLM_COMPLETION_TOKEN = new RegExp(
  String.raw`^\{"id":${PLAIN},"object":"text_completion","created":(?:0|[1-9]\d*),"model":${PLAIN},"choices":\[\{"index":0,"text":${TEXT},"logprobs":null,"finish_reason":${FINISH},"stop_reason":null\}\](?:,"usage":null)?\}$`,
);
const VLLM_CHAT_TOKEN = new RegExp(
  String.raw`^\{"id":${PLAIN},"object":"chat\.completion\.chunk","created":(?:0|[1-9]\d*),"model":${PLAIN},"choices":\[\{"index":0,"delta":\{"content":${TEXT}\},"logprobs":null,"finish_reason":${FINISH}(?:,"stop_reason":null)?\}\](?:,"usage":null)?\}$`,
);

/** A string literal holding an escape, or a control character JSON forbids, goes through `JSON.parse`. */
const NEEDS_JSON_PARSE = new RegExp(String.raw`[\\\u0000-\u001f]`);

/**
 * A token chunk exactly as vLLM writes it, read without parsing the whole line: only a text
 * literal with an escape goes through `JSON.parse`. At full engine speed the whole-line parse was
 * a tenth of the relay's CPU (bench `relay`, `node --cpu-prof`). It answers as
 * {@link parseOpenAiStreamData}'s general path does (a property test holds the two together); any
 * other line, including the same chunk with other spacing or key order, returns undefined and
 * takes that path.
 */
export function readVllmTokenText(data: string): OpenAiStreamEvent | undefined {
  const m = VLLM_COMPLETION_TOKEN.exec(data) ?? VLLM_CHAT_TOKEN.exec(data);
  if (m === null) return undefined;
  const literal = m[1]!;
  let text: string;
  if (!NEEDS_JSON_PARSE.test(literal)) {
    // Most tokens: nothing escaped, so the text is the literal between its quotes.
    text = literal.slice(1, -1);
  } else {
    try {
      text = JSON.parse(literal) as string;
    } catch {
      return undefined;
    }
  }
  const finish = m[2]!;
  return { kind: 'chunk', text, finishReason: finish === 'null' ? null : finish.slice(1, -1), usage: undefined };
}

/** Reads an engine's error body (any of vLLM's forms); undefined when it is something else. */
export function parseErrorBody(body: string): EngineErrorInfo | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = ErrorPayloadSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** `"NotFoundError: The model `foo` does not exist."`, or just the message when there is no type. */
export function describeEngineError(info: EngineErrorInfo): string {
  return info.type === undefined || info.type === null ? info.message : `${info.type}: ${info.message}`;
}
