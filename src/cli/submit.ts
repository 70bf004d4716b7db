/**
 * `drover submit`: submits one task over HTTP and streams its tokens to stdout as they arrive.
 * Exits 0 after `end`, 1 on an `error` event or an HTTP error, 130 when interrupted.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request } from 'undici';
import { ErrorEnvelopeSchema, type ErrorEnvelope } from '../protocols/index.js';

/** Options of one submission. */
export interface SubmitOptions {
  url: string;
  token?: string;
  model: string;
  prompt: string;
  maxTokens?: number;
  priority?: 'interactive' | 'batch';
  json: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  signal?: AbortSignal;
}

function headers(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function describeError(status: number, body: string): string {
  try {
    const env: ErrorEnvelope = ErrorEnvelopeSchema.parse(JSON.parse(body));
    return `${env.code} (${status}): ${env.message}`;
  } catch {
    return `HTTP ${status}: ${body.slice(0, 500)}`;
  }
}

/** Runs the submission; resolves with the process exit code. */
export async function runSubmit(o: SubmitOptions): Promise<number> {
  const base = o.url.replace(/\/+$/, '');
  const body = {
    model: o.model,
    prompt: o.prompt,
    ...(o.maxTokens === undefined ? {} : { max_tokens: o.maxTokens }),
    ...(o.priority === undefined ? {} : { priority: o.priority }),
  };
  const admit = await request(`${base}/v2/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers(o.token) },
    body: JSON.stringify(body),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  const admitText = await admit.body.text();
  if (admit.statusCode !== 202) {
    o.err.write(`drover submit: ${describeError(admit.statusCode, admitText)}\n`);
    return 1;
  }
  const { task_id: taskId } = JSON.parse(admitText) as { task_id: string };
  if (o.json) o.out.write(`${JSON.stringify({ event: 'admitted', data: JSON.parse(admitText) as unknown })}\n`);

  const stream = await request(`${base}/v2/tasks/${taskId}/events`, {
    headers: { accept: 'text/event-stream', ...headers(o.token) },
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  if (stream.statusCode !== 200) {
    o.err.write(`drover submit: ${describeError(stream.statusCode, await stream.body.text())}\n`);
    return 1;
  }
  let code: number | undefined;
  const onEvent = (e: EventSourceMessage): void => {
    if (code !== undefined) return;
    const data = JSON.parse(e.data) as Record<string, unknown>;
    if (o.json) {
      o.out.write(`${JSON.stringify({ id: e.id, event: e.event, data })}\n`);
    } else if (e.event === 'token') {
      o.out.write(String(data.t ?? ''));
    }
    if (e.event === 'end') {
      if (!o.json) o.out.write('\n');
      code = 0;
    } else if (e.event === 'error') {
      if (!o.json) o.out.write('\n');
      const env = ErrorEnvelopeSchema.safeParse(data);
      o.err.write(`drover submit: task ${taskId} failed: ${env.success ? `${env.data.code}: ${env.data.message}` : e.data}\n`);
      code = 1;
    }
  };
  const parser = createParser({ onEvent });
  const decoder = new TextDecoder();
  for await (const chunk of stream.body) {
    parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    if (code !== undefined) break;
  }
  if (code === undefined) {
    o.err.write(`drover submit: the event stream of task ${taskId} ended without end or error\n`);
    return 1;
  }
  return code;
}
