/**
 * Incremental decoder of an OpenAI-style SSE response body into EngineChunks: text pieces go in
 * as they arrive from the socket, tokens (and finally one `end`) come out. It owns the rules for
 * what ends a stream well (`[DONE]`) and what is an engine error inside a stream.
 */
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { describeEngineError, parseOpenAiStreamData, type Usage } from './openai-chunks.js';
import { EngineError, type EngineChunk } from './types.js';

/** Turns SSE text into EngineChunks; create one per response. */
export class OpenAiStreamDecoder {
  private readonly parser: EventSourceParser;
  // StringDecoder, not TextDecoder: both keep a character split between reads for the next one,
  // but TextDecoder's streaming mode takes ICU's slow path (5-8x the time per read).
  private readonly utf8 = new StringDecoder('utf8');
  private out: EngineChunk[] = [];
  private finishReason: string | null = null;
  private usage: Usage | undefined;
  private sawDone = false;
  private failure: EngineError | undefined;

  constructor() {
    this.parser = createParser({ onEvent: (event) => this.onData(event.data) });
  }

  /** True once `[DONE]` arrived (the `end` chunk has been returned). */
  get done(): boolean {
    return this.sawDone;
  }

  /**
   * The engine's error event (or an unparsable event), as EngineError('stream'). Once set, nothing
   * more is decoded; the caller delivers the chunks `feed` returned before it, then throws it.
   */
  get error(): EngineError | undefined {
    return this.failure;
  }

  /** Feeds bytes of the body as they arrive, in any split; returns the chunks they completed. */
  feedBytes(bytes: Buffer): EngineChunk[] {
    return this.feed(this.utf8.write(bytes));
  }

  /** Feeds a piece of the body; returns the chunks it completed (check `error` afterwards). */
  feed(text: string): EngineChunk[] {
    if (this.failure === undefined) this.parser.feed(text);
    const completed = this.out;
    if (completed.length > 0) this.out = [];
    return completed;
  }

  private onData(data: string): void {
    if (this.sawDone || this.failure !== undefined) return;
    try {
      const event = parseOpenAiStreamData(data);
      if (event.kind === 'done') {
        this.sawDone = true;
        const usage = this.usage;
        this.out.push(
          usage === undefined
            ? { type: 'end', finish_reason: this.finishReason }
            : { type: 'end', finish_reason: this.finishReason, usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } },
        );
      } else if (event.kind === 'error') {
        const status = typeof event.error.code === 'number' ? event.error.code : undefined;
        this.failure = new EngineError('stream', `engine error in stream: ${describeEngineError(event.error)}`, { status, body: data });
      } else {
        if (event.text.length > 0) this.out.push({ type: 'token', text: event.text });
        if (event.finishReason !== null) this.finishReason = event.finishReason;
        if (event.usage !== undefined) this.usage = event.usage;
      }
    } catch (error) {
      this.failure = error instanceof EngineError ? error : new EngineError('stream', String(error), { cause: error });
    }
  }
}
