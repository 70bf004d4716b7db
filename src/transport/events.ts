/**
 * The task event log: msgpack TaskEvents on `drover.tasks.<id>.events`, captured by the
 * `DROVER_EVENTS` stream. This module owns how events are written (core publish for tokens,
 * acknowledged JetStream publish for terminal events) and read back (one ordered consumer per
 * reader, filtered on the task's subject, so a reader sees stored and live events in stream order
 * with the stream sequence as the SSE id).
 *
 * nats-server 2.9: a consumer takes a single `filter_subject`; nats.js 2.29's ordered consumer
 * sends exactly that when `filterSubjects` is a string.
 */
import { NatsError, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import {
  STREAMS,
  TaskEventSchema,
  decode,
  describeZodError,
  encode,
  isTerminalEvent,
  subjects,
  type SequencedTaskEvent,
  type TaskEvent,
} from '../protocols/index.js';
import type { EventLog } from './types.js';

/**
 * Messages a reader's consumer may have in flight. Bounded per reader (memory is ~batch × event
 * size) and large enough that a fast token stream needs a pull request only every ~128 events.
 */
const READ_BATCH = 256;
/** Pull request lifetime; the client renews pulls and sends heartbeats at half of it. */
const PULL_EXPIRES_MS = 30_000;
/** JetStream API error code "no message found". */
const JS_NO_MESSAGE_FOUND = 10037;

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** {@link EventLog} over the `DROVER_EVENTS` stream. */
export class JetStreamEventLog implements EventLog {
  private readonly stream = STREAMS.events.name;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: Logger,
  ) {}

  publish(event: TaskEvent): void {
    this.nc.publish(subjects.taskEvents(event.task_id), encode(event));
  }

  async publishDurable(event: TaskEvent): Promise<number> {
    const ack = await this.js.publish(subjects.taskEvents(event.task_id), encode(event));
    return ack.seq;
  }

  async *read(taskId: string, opts: { afterSeq?: number; signal?: AbortSignal }): AsyncIterable<SequencedTaskEvent> {
    const subject = subjects.taskEvents(taskId);
    const { signal } = opts;
    if (aborted(signal)) return;
    const startSeq = opts.afterSeq === undefined ? 1 : Math.max(1, opts.afterSeq + 1);
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subject, opt_start_seq: startSeq });
    let messages: ConsumerMessages | undefined;
    const onAbort = (): void => {
      messages?.stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (aborted(signal)) return;
      messages = await consumer.consume({ max_messages: READ_BATCH, expires: PULL_EXPIRES_MS });
      if (aborted(signal)) return;
      for await (const m of messages) {
        // A stopped iterator still hands out what it had buffered: do not yield past an abort.
        if (aborted(signal)) return;
        const event = this.parse(m, taskId);
        if (event === undefined) continue;
        yield { seq: m.seq, event };
        if (isTerminalEvent(event)) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      messages?.stop();
      if (!this.nc.isClosed()) {
        await consumer.delete().catch((err: unknown) => this.log.debug({ err, task_id: taskId }, 'could not delete event reader consumer'));
      }
    }
  }

  async last(taskId: string): Promise<SequencedTaskEvent | undefined> {
    const subject = subjects.taskEvents(taskId);
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
      const event = this.parseBytes(m.data, m.seq, taskId);
      return event === undefined ? undefined : { seq: m.seq, event };
    } catch (err) {
      if (err instanceof NatsError && (err.code === '404' || err.api_error?.err_code === JS_NO_MESSAGE_FOUND)) return undefined;
      throw err;
    }
  }

  private parse(m: JsMsg, taskId: string): TaskEvent | undefined {
    return this.parseBytes(m.data, m.seq, taskId);
  }

  private parseBytes(data: Uint8Array, seq: number, taskId: string): TaskEvent | undefined {
    let raw: unknown;
    try {
      raw = decode(data, 'msgpack');
    } catch (err) {
      this.log.warn({ task_id: taskId, seq, err }, 'event is not msgpack; skipped');
      return undefined;
    }
    const result = TaskEventSchema.safeParse(raw);
    if (!result.success) {
      this.log.warn({ task_id: taskId, seq, reason: describeZodError(result.error) }, 'malformed event skipped');
      return undefined;
    }
    return result.data;
  }
}
