/**
 * SSE event ids and frames. An event's id is its `DROVER_EVENTS` stream sequence `S`. A `token`
 * event that carries a batch of n tokens becomes n frames when the client did not ask for batches;
 * frame k < n-1 gets id `S-k` and the last one `S`, so `Last-Event-ID` names exactly the last token
 * a client saw, and the usual case (a whole batch received) still resumes from a plain sequence.
 */
import { tokensOf, type SequencedTaskEvent } from '../protocols/index.js';

/** Where a resumed stream starts: after stream sequence `afterSeq`, then past `skipTokens` tokens of the next event. */
export interface ResumeCursor {
  afterSeq: number;
  /** Tokens of the event at `afterSeq + 1` the client already has (from an `S-k` id). */
  skipTokens: number;
}

const EVENT_ID = /^(\d{1,15})(?:-(\d{1,4}))?$/;

/** Parses `S` or `S-k`; undefined when the text is not an id Drover issues. */
export function parseEventId(text: string): ResumeCursor | undefined {
  const m = EVENT_ID.exec(text);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  if (m[2] === undefined) return { afterSeq: seq, skipTokens: 0 };
  if (seq < 1) return undefined;
  return { afterSeq: seq - 1, skipTokens: Number(m[2]) + 1 };
}

/**
 * Formats events as SSE text: one frame per event, or per token of a batch unless the client asked
 * for batches (`?batch=true`). A resumed stream's first event, the batch its `S-k` id points into,
 * loses the tokens the client already has; the others keep their ids.
 */
export class EventFormatter {
  private skip: { seq: number; tokens: number } | undefined;

  constructor(
    private readonly batched: boolean,
    cursor?: ResumeCursor,
  ) {
    if (cursor !== undefined && cursor.skipTokens > 0) this.skip = { seq: cursor.afterSeq + 1, tokens: cursor.skipTokens };
  }

  /** The SSE text of `item`; empty when nothing of it is left to send. */
  format({ seq, event }: SequencedTaskEvent): string {
    const skip = this.skip?.seq === seq ? this.skip.tokens : 0;
    this.skip = undefined;
    if (event.type !== 'token' || (skip === 0 && !('batch' in event.data))) {
      return `id: ${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
    }
    const tokens = tokensOf(event.data);
    if (skip >= tokens.length) return '';
    if (this.batched) return `id: ${seq}\nevent: token\ndata: ${JSON.stringify({ batch: tokens.slice(skip) })}\n\n`;
    const last = tokens.length - 1;
    let text = '';
    for (let k = skip; k < last; k += 1) text += `id: ${seq}-${k}\nevent: token\ndata: ${JSON.stringify(tokens[k])}\n\n`;
    return `${text}id: ${seq}\nevent: token\ndata: ${JSON.stringify(tokens[last])}\n\n`;
  }
}
