/**
 * Task routes of the native API: admission, record, SSE events and cancel (llama-orch v2 §A3–A5).
 */
import { setMaxListeners } from 'node:events';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  DroverError,
  TaskRequestSchema,
  describeZodError,
  normalizeTaskRequest,
  toTaskView,
  type AdmissionResponse,
  type TaskView,
} from '../../protocols/index.js';
import { streamErrorEnvelope } from '../errors.js';
import { pipeTaskEvents } from '../sse.js';
import { EventFormatter, parseEventId } from '../event-ids.js';
import type { TaskGateway } from '../types.js';

/** Options of the task routes plugin. */
export interface TaskRoutesOptions {
  /** Where tasks go. */
  gateway: TaskGateway;
  /** Id generator for omitted task and session ids. */
  newId: () => string;
  /** SSE heartbeat interval. */
  heartbeatMs: number;
}

/** Request bodies above this are INVALID_PARAMS (prompts are capped at 1 M chars by the schema). */
export const TASK_BODY_LIMIT = 2 * 1024 * 1024;

/** Ids Drover can have issued (the TaskRequest id rule); anything else is unknown without a lookup. */
const TASK_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface IdParams {
  id: string;
}

interface EventsQuery {
  last_event_id?: unknown;
  verbose?: unknown;
  batch?: unknown;
}

function unknownTask(id: string): DroverError {
  return new DroverError('NOT_FOUND', `task ${id.slice(0, 128)} not found`);
}

/** The 202 body: the admission plus where to stream its events. */
function admitted(admission: AdmissionResponse): AdmissionResponse {
  const sse = `/v2/tasks/${encodeURIComponent(admission.task_id)}/events`;
  // Object.assign: a property after a spread takes a slow path on Node 20 (about 0.5 µs).
  return Object.assign({}, admission, { streams: { sse, sse_verbose: `${sse}?verbose=true` } });
}

/** `Last-Event-ID` header, else `?last_event_id=`: the position a resume continues after, or undefined for "from the start". */
function resumePositionOf(header: string | string[] | undefined, query: unknown): number | undefined {
  const raw = header ?? query;
  if (raw === undefined || raw === '') return undefined;
  const position = typeof raw === 'string' ? parseEventId(raw) : undefined;
  if (position === undefined) throw new DroverError('INVALID_PARAMS', 'Last-Event-ID must be an event id this server sent (a number, or `end`)');
  return position;
}

/** `?batch=true` asks for `token {batch}` frames; anything but true/false is INVALID_PARAMS. */
function batchedOf(query: unknown): boolean {
  if (query === undefined || query === 'false') return false;
  if (query === 'true' || query === '') return true;
  throw new DroverError('INVALID_PARAMS', 'batch must be true or false');
}

/** True when the client asks for the event stream itself (`Accept: text/event-stream`) rather than the 202. */
function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /\btext\/event-stream\b/i.test(accept);
}

/** Registers POST /v2/tasks, GET /v2/tasks/:id, GET /v2/tasks/:id/events, POST /v2/tasks/:id/cancel. */
export const taskRoutes: FastifyPluginAsync<TaskRoutesOptions> = async (app, { gateway, newId, heartbeatMs }) => {
  // Open streams would keep `close()` waiting forever: end them first; clients resume with Last-Event-ID.
  const shutdown = new AbortController();
  // Every open stream listens on this one signal (and removes its listener when it ends).
  setMaxListeners(0, shutdown.signal);
  app.addHook('preClose', (done) => {
    shutdown.abort();
    done();
  });

  /** Writes `id`'s events after `afterPosition` as SSE on the hijacked response, until the terminal event or a hang-up. */
  async function streamEvents(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    afterPosition: number | undefined,
    formatter: EventFormatter,
    headers?: Record<string, string>,
  ): Promise<void> {
    reply.hijack();
    const outcome = await pipeTaskEvents(reply.raw, {
      open: (signal) => gateway.events(id, afterPosition, signal),
      format: (event) => formatter.format(event),
      correlationId: request.id,
      ...(headers === undefined ? {} : { headers }),
      heartbeatMs,
      onError: (err) => streamErrorEnvelope(request, err),
      shutdown: shutdown.signal,
    });
    request.log.debug({ task_id: id, outcome }, 'event stream ended');
  }

  app.post<{ Querystring: EventsQuery }>('/v2/tasks', { bodyLimit: TASK_BODY_LIMIT }, async (request, reply) => {
    const parsed = TaskRequestSchema.safeParse(request.body);
    if (!parsed.success) throw new DroverError('INVALID_PARAMS', describeZodError(parsed.error));
    if (parsed.data.deadline_ms <= 0) throw new DroverError('DEADLINE_UNMET', 'deadline_ms must be positive');
    const streamed = wantsEventStream(request.headers.accept);
    // Checked before admission: a bad query must not leave an admitted task behind.
    const formatter = streamed ? new EventFormatter(batchedOf(request.query.batch)) : undefined;
    const admission = await gateway.submit(normalizeTaskRequest(parsed.data, newId), request.id);
    const location = `/v2/tasks/${encodeURIComponent(admission.task_id)}`;
    if (formatter === undefined) return reply.code(202).header('location', location).send(admitted(admission));
    // One request from submit to `end`: the admission's figures come again in `started`; a client
    // that loses the connection resumes at Content-Location with Last-Event-ID.
    const headers = { location, 'content-location': `${location}/events`, 'x-task-id': admission.task_id };
    await streamEvents(request, reply, admission.task_id, undefined, formatter, headers);
    return reply;
  });

  app.get<{ Params: IdParams }>('/v2/tasks/:id', async (request): Promise<TaskView> => {
    const { id } = request.params;
    const record = TASK_ID.test(id) ? await gateway.get(id) : undefined;
    if (record === undefined) throw unknownTask(id);
    return toTaskView(record);
  });

  // No automatic HEAD twin: a HEAD would open a gateway subscription for a body nobody reads.
  const eventsRoute = { exposeHeadRoute: false };
  app.get<{ Params: IdParams; Querystring: EventsQuery }>('/v2/tasks/:id/events', eventsRoute, async (request, reply) => {
    // `?verbose=true` is accepted (the admission advertises it); every event is sent either way.
    const { id } = request.params;
    const afterPosition = resumePositionOf(request.headers['last-event-id'], request.query.last_event_id);
    const formatter = new EventFormatter(batchedOf(request.query.batch));
    if (!TASK_ID.test(id) || !(await gateway.exists(id))) throw unknownTask(id);
    await streamEvents(request, reply, id, afterPosition, formatter);
    return reply;
  });

  app.post<{ Params: IdParams }>('/v2/tasks/:id/cancel', async (request, reply) => {
    const { id } = request.params;
    if (!TASK_ID.test(id)) throw unknownTask(id);
    await gateway.cancel(id, request.id);
    return reply.code(204).send();
  });
};
