/** A small SSE client for tests: real HTTP, parsed with eventsource-parser. */
import { createParser } from 'eventsource-parser';
import { request } from 'undici';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/**
 * Opens an SSE stream (a GET, or with `post` a POST of that JSON body) and collects events until
 * it ends or `stopWhen` says so.
 */
export async function readSse(
  url: string,
  opts: { headers?: Record<string, string>; post?: unknown; stopWhen?: (e: SseEvent, all: SseEvent[]) => boolean; onEvent?: (e: SseEvent) => void } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; events: SseEvent[] }> {
  const controller = new AbortController();
  const posting = opts.post === undefined ? {} : { method: 'POST' as const, body: JSON.stringify(opts.post) };
  const headers = { accept: 'text/event-stream', ...(opts.post === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers };
  const res = await request(url, { headers, signal: controller.signal, ...posting });
  const events: SseEvent[] = [];
  if (res.statusCode !== 200) {
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, events: [{ id: undefined, event: 'http', data: JSON.parse(body) as Record<string, unknown> }] };
  }
  let stop = false;
  const parser = createParser({
    onEvent(m) {
      const e: SseEvent = { id: m.id, event: m.event ?? 'message', data: JSON.parse(m.data) as Record<string, unknown> };
      events.push(e);
      opts.onEvent?.(e);
      if (opts.stopWhen?.(e, events) === true) stop = true;
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body) {
      parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      if (stop) break;
    }
  } finally {
    controller.abort();
  }
  return { status: res.statusCode, headers: res.headers, events };
}

/** POSTs JSON and returns status, headers and the parsed body (undefined when empty). */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

/** GETs JSON. */
export async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}
