/**
 * Request bodies the simulated engine accepts on `/v1/completions`, `/v1/chat/completions` and
 * `/tokenize`, as zod schemas (unknown OpenAI fields are accepted and ignored), reduced to the few
 * parameters the simulator acts on.
 */
import { z } from 'zod';
import type { SimApi } from './openai-wire.js';

/** vLLM's default `max_tokens` for completions. */
export const DEFAULT_MAX_TOKENS = 16;

const StreamOptionsSchema = z.object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() });

const CommonFieldsSchema = z.object({
  model: z.string().nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  seed: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptionsSchema.nullish(),
  n: z.literal(1).nullish(),
});

const CompletionBodySchema = CommonFieldsSchema.extend({
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
});

const ContentPartSchema = z.object({ type: z.string(), text: z.string().optional() });
const ChatMessageSchema = z.object({
  role: z.string(),
  content: z.union([z.string(), z.array(ContentPartSchema)]).nullish(),
});

const ChatBodySchema = CommonFieldsSchema.extend({
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
});

const TokenizeBodySchema = z.union([
  z.object({ model: z.string().nullish(), prompt: z.string() }),
  z.object({ model: z.string().nullish(), messages: z.array(ChatMessageSchema) }),
]);

/** What the simulator needs from a generation request. */
export interface GenerationParams {
  /** Requested model id; undefined means the served model. */
  model: string | undefined;
  /** The prompt (chat: the message contents joined by newlines). */
  promptText: string;
  maxTokens: number;
  stream: boolean;
  includeUsage: boolean;
  seed: number;
}

/** A parse result: the parameters, or a message for a 400 BadRequestError. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Validates a generation body for `api`. */
export function parseGenerationBody(api: SimApi, body: unknown): ParseResult<GenerationParams> {
  if (api === 'chat') {
    const parsed = ChatBodySchema.safeParse(body);
    if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
    const b = parsed.data;
    return ok(b, chatPromptText(b.messages), b.max_completion_tokens ?? b.max_tokens);
  }
  const parsed = CompletionBodySchema.safeParse(body);
  if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
  const b = parsed.data;
  return ok(b, typeof b.prompt === 'string' ? b.prompt : (b.prompt[0] ?? ''), b.max_tokens);
}

/** Validates a `/tokenize` body; returns the prompt text. */
export function parseTokenizeBody(body: unknown): ParseResult<{ model: string | undefined; promptText: string }> {
  const parsed = TokenizeBodySchema.safeParse(body);
  if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
  const b = parsed.data;
  const promptText = 'prompt' in b ? b.prompt : chatPromptText(b.messages);
  return { ok: true, value: { model: b.model ?? undefined, promptText } };
}

function ok(b: z.infer<typeof CommonFieldsSchema>, promptText: string, maxTokens: number | null | undefined): ParseResult<GenerationParams> {
  return {
    ok: true,
    value: {
      model: b.model ?? undefined,
      promptText,
      maxTokens: maxTokens ?? DEFAULT_MAX_TOKENS,
      stream: b.stream === true,
      includeUsage: b.stream_options?.include_usage === true,
      seed: b.seed ?? 0,
    },
  };
}

function chatPromptText(messages: z.infer<typeof ChatMessageSchema>[]): string {
  return messages
    .map((message) => {
      const content = message.content;
      if (typeof content === 'string') return content;
      if (content === null || content === undefined) return '';
      return content.map((part) => part.text ?? '').join(' ');
    })
    .join('\n');
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}
