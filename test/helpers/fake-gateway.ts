/**
 * An in-memory TaskGateway for testing the HTTP layer alone: records in a Map, events in per-task
 * arrays, an event iterator that replays after a position (`eventAfter`) then waits for pushed
 * events, and knobs to make submit or a stream fail. It
 * records what the API asked so tests can assert on correlation ids and abort signals.
 */
import {
  DroverError,
  eventAfter,
  isTerminalEvent,
  type AdmissionResponse,
  type CancelReply,
  type PoolView,
  type TaskEvent,
  type TaskRecord,
  type TaskSpec,
} from '../../src/protocols/index.js';
import type { TaskGateway } from '../../src/api/types.js';

/** One call to `events`, with the signal the API passed. */
export interface EventsCall {
  taskId: string;
  afterPosition: number | undefined;
  signal: AbortSignal;
}

interface TaskLog {
  events: TaskEvent[];
  /** Thrown by iterators once they have replayed every event. */
  failure?: unknown;
  wake: Set<() => void>;
}

/** The fake. Public fields are the knobs and the call log. */
export class FakeGateway implements TaskGateway {
  /** Durable records by task id. */
  readonly records = new Map<string, TaskRecord>();
  /** Errors `submit` throws, first in first out, before admitting anything. */
  readonly submitErrors: unknown[] = [];
  /** Promises `submit` waits for, first in first out, before it does anything. */
  readonly submitGates: Promise<void>[] = [];
  /** Every spec submitted, with its correlation id. */
  readonly submitted: { spec: TaskSpec; correlationId: string }[] = [];
  /** Every cancel of a known task, with its correlation id. */
  readonly cancels: { taskId: string; correlationId: string }[] = [];
  /** Every `events` call, in order. */
  readonly eventsCalls: EventsCall[] = [];
  /** What `pools()` answers. */
  poolViews: PoolView[] = [];
  /** What `ready()` answers. */
  isReady = true;
  /** Misbehave: keep iterating past terminal events (the API must stop by itself). */
  ignoreTerminal = false;
  /** Thrown by `pools()` when set. */
  poolsError: unknown = undefined;

  private readonly logs = new Map<string, TaskLog>();
  private readonly callWaiters = new Set<() => void>();

  async submit(spec: TaskSpec, correlationId: string): Promise<AdmissionResponse> {
    const gate = this.submitGates.shift();
    if (gate !== undefined) await gate;
    const err = this.submitErrors.shift();
    if (err !== undefined) throw err;
    if (this.records.has(spec.task_id)) throw new DroverError('TASK_EXISTS', `task ${spec.task_id} exists`);
    this.submitted.push({ spec, correlationId });
    this.addTask(spec, correlationId);
    return { task_id: spec.task_id, queue_position: this.records.size - 1, predicted_start_ms: 100, backoff_ms: 0 };
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    return this.records.get(taskId);
  }

  async exists(taskId: string): Promise<boolean> {
    return this.records.has(taskId);
  }

  async *events(taskId: string, afterPosition: number | undefined, signal: AbortSignal): AsyncIterable<TaskEvent> {
    this.eventsCalls.push({ taskId, afterPosition, signal });
    for (const wake of this.callWaiters) wake();
    const log = this.logOf(taskId);
    let next = 0;
    for (;;) {
      while (next < log.events.length) {
        const stored = log.events[next++]!;
        const event = afterPosition === undefined ? stored : eventAfter(stored, afterPosition);
        if (event !== undefined) yield event;
        if (!this.ignoreTerminal && isTerminalEvent(stored)) return;
      }
      if (log.failure !== undefined) throw log.failure;
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          log.wake.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        log.wake.add(done);
        signal.addEventListener('abort', done);
      });
    }
  }

  async cancel(taskId: string, correlationId: string): Promise<CancelReply> {
    const record = this.records.get(taskId);
    if (record === undefined) throw new DroverError('NOT_FOUND', `task ${taskId} not found`);
    this.cancels.push({ taskId, correlationId });
    this.records.set(taskId, { ...record, state: 'canceled', canceled: true });
    this.push(taskId, { type: 'end', task_id: taskId, data: { tokens_out: 0, decode_ms: 0, decode_time_ms: 0, canceled: true } });
    return { task_id: taskId, outcome: 'stopped' };
  }

  async pools(): Promise<PoolView[]> {
    if (this.poolsError !== undefined) throw this.poolsError;
    return this.poolViews;
  }

  async ready(): Promise<boolean> {
    return this.isReady;
  }

  /** Creates a queued task without going through submit. */
  addTask(spec: TaskSpec, correlationId = 'test'): TaskRecord {
    const record: TaskRecord = {
      task_id: spec.task_id,
      spec,
      state: 'queued',
      owner: 'fake',
      correlation_id: correlationId,
      admitted_at: 1_700_000_000_000,
      attempts: 0,
    };
    this.records.set(spec.task_id, record);
    this.logOf(spec.task_id);
    return record;
  }

  /** Appends an event and wakes waiting iterators. */
  push(taskId: string, event: TaskEvent): void {
    const log = this.logOf(taskId);
    log.events.push(event);
    this.wakeAll(log);
  }

  /** Makes iterators of this task throw `err` after the events pushed so far. */
  fail(taskId: string, err: unknown): void {
    const log = this.logOf(taskId);
    log.failure = err;
    this.wakeAll(log);
  }

  /** Resolves with the `n`-th (1-based) events call once the API has made it. */
  async eventsCall(n: number): Promise<EventsCall> {
    while (this.eventsCalls.length < n) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.callWaiters.delete(done);
          resolve();
        };
        this.callWaiters.add(done);
      });
    }
    return this.eventsCalls[n - 1]!;
  }

  private logOf(taskId: string): TaskLog {
    let log = this.logs.get(taskId);
    if (log === undefined) {
      log = { events: [], wake: new Set() };
      this.logs.set(taskId, log);
    }
    return log;
  }

  private wakeAll(log: TaskLog): void {
    for (const wake of [...log.wake]) wake();
  }
}

/** A minimal spec for `addTask`. */
export function specOf(taskId: string, overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    task_id: taskId,
    session_id: `s-${taskId}`,
    model: 'm',
    prompt: 'hi',
    max_tokens: 8,
    priority: 'interactive',
    deadline_ms: 60_000,
    ...overrides,
  };
}

/** A token event. */
export function tokenEvent(taskId: string, i: number, t = `t${i}`): TaskEvent {
  return { type: 'token', task_id: taskId, data: { t, i } };
}

/** A normal end event. */
export function endEvent(taskId: string, tokensOut: number): TaskEvent {
  return { type: 'end', task_id: taskId, data: { tokens_out: tokensOut, decode_ms: 5, decode_time_ms: 5 } };
}
