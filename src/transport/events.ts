/**
 * The task event log: msgpack TaskEvents on `drover.tasks.<id>.events`, captured by the
 * `DROVER_EVENTS` stream. This module owns how events are written (core publish for tokens,
 * acknowledged JetStream publish for terminal events) and read back, two ways, both in order and
 * both after a position (`positionOf`, the SSE id):
 * - a task this process submitted and runs is read from memory: every event its relay publishes
 *   here is also appended to the task's feed (see `task-feeds.ts`);
 * - any other task gets an ordered consumer of its own, filtered on the task's subject, which
 *   replays what is stored and then follows live events.
 *
 * nats-server 2.9: a consumer takes a single `filter_subject`; nats.js 2.29's ordered consumer
 * sends exactly that when `filterSubjects` is a string.
 */
import { NatsError, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { STREAMS, TaskEventSchema, decode, describeZodError, encode, eventAfter, isTerminalEvent, subjects, type TaskEvent } from '../protocols/index.js';
import type { EventLog, TaskWatch } from './types.js';
import { DEFAULT_FEED_LIMITS, TaskFeeds, type TaskFeedLimits } from './task-feeds.js';
import type { StoredPublish } from './acked-publish.js';

/**
 * Messages a reader's consumer may have in flight. Bounded per reader (memory is ~batch × event
 * size) and large enough that a fast token stream needs a pull request only every ~128 events.
 */
const READ_BATCH = 256;
/** Pull request lifetime; the client renews pulls and sends heartbeats at half of it. */
const PULL_EXPIRES_MS = 30_000;
/** How often ended feeds are checked for expiry. */
const FEED_SWEEP_MS = 1_000;
/** JetStream API error code "no message found". */
const JS_NO_MESSAGE_FOUND = 10037;

/** The watch of a task whose events are not kept here (already watched). */
const NOT_KEPT: TaskWatch = { admitted: () => undefined, release: () => undefined };

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** {@link EventLog} over the `DROVER_EVENTS` stream. */
export class JetStreamEventLog implements EventLog {
  private readonly stream = STREAMS.events.name;
  private readonly feeds: TaskFeeds;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: Logger,
    /** Acknowledged publishes (AckedPublisher of the connection). */
    private readonly publishStored: StoredPublish,
    feedLimits: TaskFeedLimits = DEFAULT_FEED_LIMITS,
  ) {
    this.feeds = new TaskFeeds(feedLimits);
    this.sweeper = setInterval(() => this.feeds.sweep(), FEED_SWEEP_MS);
    this.sweeper.unref();
  }

  watch(taskId: string): TaskWatch {
    return this.feeds.open(taskId) ?? NOT_KEPT;
  }

  claim(taskId: string): void {
    this.feeds.claim(taskId);
  }

  watching(taskId: string): boolean {
    return this.feeds.has(taskId);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.feeds.detachAll();
  }

  publish(event: TaskEvent): void {
    this.nc.publish(subjects.taskEvents(event.task_id), encode(event));
    this.feeds.append(event.task_id, event);
  }

  async publishDurable(event: TaskEvent): Promise<void> {
    try {
      await this.publishStored(subjects.taskEvents(event.task_id), encode(event));
    } catch (err) {
      await this.followStoredEnd(event.task_id);
      throw err;
    }
    // In memory only once stored: a reader that sees the terminal event can rely on the stream having it.
    this.feeds.append(event.task_id, event);
  }

  /**
   * After a failed durable publish: an ack can be lost after the stream stored the event, so the
   * memory copy takes the task's terminal event from the stream if it is there, and stays as it is
   * (the stream has no end either) if it is not.
   */
  private async followStoredEnd(taskId: string): Promise<void> {
    // Rare (a failed publish), so no check first: the append keeps nothing for a task without a feed.
    if (this.nc.isClosed()) return;
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subjects.taskEvents(taskId) });
      const stored = this.parseBytes(m.data, m.seq, taskId);
      if (stored !== undefined && isTerminalEvent(stored)) this.feeds.append(taskId, stored);
    } catch (err) {
      if (!(err instanceof NatsError && (err.code === '404' || err.api_error?.err_code === JS_NO_MESSAGE_FOUND))) {
        this.log.warn({ err, task_id: taskId }, 'could not read the last stored event after a failed publish');
      }
    }
  }

  read(taskId: string, opts: { afterPosition?: number; signal?: AbortSignal }): AsyncIterable<TaskEvent> {
    const { signal } = opts;
    const fromStream = (afterPosition: number | undefined): AsyncIterable<TaskEvent> =>
      this.readStream(taskId, afterPosition, signal);
    return this.feeds.read(taskId, opts.afterPosition, signal, fromStream) ?? fromStream(opts.afterPosition);
  }

  /**
   * One ordered consumer on the task's subject: stored events, then live ones. A resume replays the
   * task from its first event and skips what the reader has, so ids never depend on the stream.
   */
  private async *readStream(taskId: string, afterPosition: number | undefined, signal: AbortSignal | undefined): AsyncIterable<TaskEvent> {
    if (aborted(signal)) return;
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subjects.taskEvents(taskId), opt_start_seq: 1 });
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
        const stored = this.parse(m, taskId);
        if (stored === undefined) continue;
        const event = afterPosition === undefined ? stored : eventAfter(stored, afterPosition);
        if (event !== undefined) yield event;
        if (isTerminalEvent(stored)) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      messages?.stop();
      if (!this.nc.isClosed()) {
        await consumer.delete().catch((err: unknown) => this.log.debug({ err, task_id: taskId }, 'could not delete event reader consumer'));
      }
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
