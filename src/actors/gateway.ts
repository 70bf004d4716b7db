/**
 * The TaskGateway the HTTP API uses, over NATS: submit, cancel and pool queries are requests to
 * placement; task records are read from KV; events are read from the `DROVER_EVENTS` stream. It
 * holds no state, so any number of front doors can share one scheduler.
 */
import {
  AdmissionResponseSchema,
  CancelReplySchema,
  DroverError,
  PoolQueryReplySchema,
  subjects,
  TERMINAL_TASK_STATES,
  type AdmissionResponse,
  type CancelReply,
  type PoolView,
  type TaskEvent,
  type TaskRecord,
  type TaskSpec,
} from '../protocols/index.js';
import type { TaskGateway } from '../api/index.js';
import type { KvStore, Transport } from '../transport/index.js';

/** TaskGateway over NATS request/reply, KV and the events stream. */
export class NatsTaskGateway implements TaskGateway {
  constructor(
    private readonly transport: Transport,
    private readonly tasks: KvStore<TaskRecord>,
  ) {}

  async submit(spec: TaskSpec, correlationId: string): Promise<AdmissionResponse> {
    // Watched before the request goes out, so that when placement in this process admits the task,
    // the client's event stream is served from memory from the first event, even one published
    // before the 202 gets back here.
    const watch = this.transport.events.watch(spec.task_id);
    let admission: AdmissionResponse;
    try {
      admission = await this.transport.bus.request(subjects.tasksSubmit, { spec, correlation_id: correlationId }, {
        schema: AdmissionResponseSchema,
        timeoutMs: 15_000,
      });
    } catch (err) {
      watch.release();
      throw err;
    }
    watch.admitted();
    return admission;
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    if (!isTaskId(taskId)) return undefined;
    return (await this.tasks.get(taskId))?.value;
  }

  async exists(taskId: string): Promise<boolean> {
    if (!isTaskId(taskId)) return false;
    return this.transport.events.watching(taskId) || (await this.tasks.get(taskId)) !== undefined;
  }

  events(taskId: string, afterPosition: number | undefined, signal: AbortSignal): AsyncIterable<TaskEvent> {
    return this.transport.events.read(taskId, { ...(afterPosition === undefined ? {} : { afterPosition }), signal });
  }

  async cancel(taskId: string, correlationId: string): Promise<CancelReply> {
    const record = await this.get(taskId);
    if (record === undefined) throw new DroverError('NOT_FOUND', `no task ${taskId}`);
    if (TERMINAL_TASK_STATES.includes(record.state)) return { task_id: taskId, outcome: 'already_ended' };
    return this.transport.bus.request(subjects.taskCancel(taskId), { correlation_id: correlationId }, {
      schema: CancelReplySchema,
      timeoutMs: 20_000,
    });
  }

  async pools(): Promise<PoolView[]> {
    const reply = await this.transport.bus.request(subjects.poolsQuery, {}, { schema: PoolQueryReplySchema, timeoutMs: 5_000 });
    return reply.pools;
  }

  async ready(): Promise<boolean> {
    try {
      await this.pools();
      return true;
    } catch {
      return false;
    }
  }
}

const TASK_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
function isTaskId(id: string): boolean {
  return TASK_ID_RE.test(id);
}
