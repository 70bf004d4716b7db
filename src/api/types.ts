/**
 * Contract between the HTTP front door and the rest of Drover. The API only speaks to a
 * TaskGateway; the real one goes over NATS (submit/cancel/pools requests, KV reads, the event
 * stream), so front doors and schedulers scale separately.
 */
import type {
  AdmissionResponse,
  CancelReply,
  PoolView,
  SequencedTaskEvent,
  TaskRecord,
  TaskSpec,
} from '../protocols/index.js';

export interface TaskGateway {
  /** Admits a task; throws DroverError (ADMISSION_REJECT, POOL_UNAVAILABLE, TASK_EXISTS, …). */
  submit(spec: TaskSpec, correlationId: string): Promise<AdmissionResponse>;
  /** The durable record, or undefined for an unknown id. */
  get(taskId: string): Promise<TaskRecord | undefined>;
  /** Events after `afterSeq` (stream sequence), replayed then live, ending at the terminal event. */
  events(taskId: string, afterSeq: number | undefined, signal: AbortSignal): AsyncIterable<SequencedTaskEvent>;
  /** Cancels; throws DroverError NOT_FOUND for an unknown id. Resolves after the task has stopped. */
  cancel(taskId: string, correlationId: string): Promise<CancelReply>;
  /** Every pool with replicas and slots. */
  pools(): Promise<PoolView[]>;
  /** True when the scheduler answers (for /readyz). */
  ready(): Promise<boolean>;
}
