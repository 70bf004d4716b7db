/**
 * Byte-exact OpenAI/vLLM wire format for the simulated engine (vllm-api.md §3–§4). Chunks are
 * built from string templates prepared once per request; the only per-token work is splicing the
 * token's precomputed JSON literal between a prefix and a suffix.
 */

/** Which OpenAI route a request came in on. */
export type SimApi = 'completions' | 'chat';

/** The end-of-stream sentinel. */
export const DONE_EVENT = 'data: [DONE]\n\n';

/** Message of vLLM's EngineDeadError, as vLLM reports it to clients. */
export const ENGINE_DEAD_MESSAGE = 'EngineCore encountered an issue. See stack trace (above) for the root cause.';

/** Response id as vLLM ≤0.10 prints it: `cmpl-` / `chatcmpl-` + 32 hex digits. */
export function newResponseId(api: SimApi, uuid: string): string {
  return `${api === 'chat' ? 'chatcmpl-' : 'cmpl-'}${uuid.replaceAll('-', '')}`;
}

/** Builds every chunk of one streamed response. */
export class StreamWire {
  private readonly head: string;
  private readonly tokenPrefix: string;

  constructor(
    private readonly api: SimApi,
    id: string,
    created: number,
    modelJson: string,
  ) {
    const object = api === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    this.head = `data: {"id":"${id}","object":"${object}","created":${created},"model":${modelJson},"choices":`;
    this.tokenPrefix = api === 'chat' ? `${this.head}[{"index":0,"delta":{"content":` : `${this.head}[{"index":0,"text":`;
  }

  /** What goes before the first token: chat's role chunk; nothing for completions. */
  opening(): string {
    if (this.api !== 'chat') return '';
    return `${this.head}[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** One token chunk; completions carry the finish reason on the last token itself. */
  token(json: string, finishReason: string | null): string {
    if (this.api === 'chat') return `${this.tokenPrefix}${json}},"logprobs":null,"finish_reason":null}]}\n\n`;
    const finish = finishReason === null ? 'null' : `"${finishReason}"`;
    return `${this.tokenPrefix}${json},"logprobs":null,"finish_reason":${finish},"stop_reason":null}],"usage":null}\n\n`;
  }

  /** What goes after the last token: chat's final chunk with the finish reason; nothing for completions. */
  closing(finishReason: string): string {
    if (this.api !== 'chat') return '';
    return `${this.tokenPrefix}""},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":null}]}\n\n`;
  }

  /** The `include_usage` chunk: `"choices":[]` and UsageInfo in vLLM's key order. */
  usage(promptTokens: number, completionTokens: number): string {
    return `${this.head}[],"usage":${usageJson(promptTokens, completionTokens)}}\n\n`;
  }
}

/** A non-streamed completion or chat completion body. */
export function responseBody(
  api: SimApi,
  fields: { id: string; created: number; modelJson: string; text: string; finishReason: string; promptTokens: number; completionTokens: number },
): string {
  const head = `{"id":"${fields.id}","object":"${api === 'chat' ? 'chat.completion' : 'text_completion'}","created":${fields.created},"model":${fields.modelJson}`;
  const text = JSON.stringify(fields.text);
  const choice =
    api === 'chat'
      ? `{"index":0,"message":{"role":"assistant","content":${text}},"logprobs":null,"finish_reason":"${fields.finishReason}","stop_reason":null}`
      : `{"index":0,"text":${text},"logprobs":null,"finish_reason":"${fields.finishReason}","stop_reason":null}`;
  return `${head},"choices":[${choice}],"usage":${usageJson(fields.promptTokens, fields.completionTokens)}}`;
}

/** vLLM's non-stream error body (ErrorResponse, pydantic compact JSON). */
export function errorBody(message: string, type: string, param: string | null, code: number): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

/** vLLM's mid-stream error event (`create_streaming_error_response`: json.dumps, so with spaces). */
export function streamErrorEvent(message: string, type: string, code: number): string {
  return `data: {"error": {"message": ${JSON.stringify(message)}, "type": "${type}", "param": null, "code": ${code}}}\n\n`;
}

function usageJson(promptTokens: number, completionTokens: number): string {
  return `{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens + completionTokens},"completion_tokens":${completionTokens}}`;
}
