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
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (error) {
    throw new EngineError('stream', `unparsable stream event: ${data.slice(0, 200)}`, { cause: error });
  }
  const chunk = OpenAiChunkSchema.safeParse(json);
  if (chunk.success) {
    const data = chunk.data;
    let text = '';
    let finishReason: string | null = null;
    for (const choice of data.choices) {
      if (choice.index !== 0) continue;
      text += ('delta' in choice ? choice.delta.content : choice.text) ?? '';
      if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
    }
    return { kind: 'chunk', text, finishReason, usage: data.usage ?? undefined };
  }
  const error = ErrorPayloadSchema.safeParse(json);
  if (error.success) return { kind: 'error', error: error.data };
  throw new EngineError('stream', `unexpected stream event: ${data.slice(0, 200)}`);
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
