/**
 * The task event log: msgpack TaskEvents on `drover.tasks.<id>.events`, captured by the
 * `DROVER_EVENTS` stream. This module owns how events are written (core publish for tokens,
 * acknowledged JetStream publish for terminal events) and read back, two ways, both in stream
 * order with the stream sequence as the SSE id:
 * - a task this process watches (it submitted it) is read from memory, filled by one shared live
 *   ordered consumer on every task's events (see `task-feeds.ts`);
 * - any other task gets an ordered consumer of its own, filtered on the task's subject, which
 *   replays what is stored and then follows live events.
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
  taskIdFromSubject,
  type SequencedTaskEvent,
  type TaskEvent,
} from '../protocols/index.js';
import type { EventLog, TaskWatch } from './types.js';
import { DEFAULT_FEED_LIMITS, TaskFeeds, type TaskFeedLimits } from './task-feeds.js';

/**
 * Messages a reader's consumer may have in flight. Bounded per reader (memory is ~batch × event
 * size) and large enough that a fast token stream needs a pull request only every ~128 events.
 */
const READ_BATCH = 256;
/** Pull request lifetime; the client renews pulls and sends heartbeats at half of it. */
const PULL_EXPIRES_MS = 30_000;
/** JetStream API error code "no message found". */
const JS_NO_MESSAGE_FOUND = 10037;
/** Messages the shared live consumer may have in flight (it carries every task's events). */
const LIVE_BATCH = 4096;
/** After the live consumer failed to start, watching is skipped (reads use their own consumer) this long. */
const LIVE_RETRY_MS = 5_000;
/** How often ended feeds are checked for expiry. */
const FEED_SWEEP_MS = 1_000;

/** The watch of a task whose events are not kept here (already watched, or no live consumer). */
const NOT_KEPT: TaskWatch = { admitted: () => undefined, release: () => undefined };

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** {@link EventLog} over the `DROVER_EVENTS` stream. */
export class JetStreamEventLog implements EventLog {
  private readonly stream = STREAMS.events.name;
  private readonly feeds: TaskFeeds;
  /** Resolves true once the shared live consumer runs; undefined when it is not started. */
  private live: Promise<boolean> | undefined;
  private liveRetryAt = 0;
  private liveMessages: ConsumerMessages | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: Logger,
    feedLimits: TaskFeedLimits = DEFAULT_FEED_LIMITS,
  ) {
    this.feeds = new TaskFeeds(feedLimits);
  }

  async watch(taskId: string): Promise<TaskWatch> {
    if (!(await this.ensureLive())) return NOT_KEPT;
    return this.feeds.open(taskId) ?? NOT_KEPT;
  }

  watching(taskId: string): boolean {
    return this.feeds.has(taskId);
  }

  /** Stops the shared live consumer (before the connection closes); watched reads continue from the stream. */
  stopLive(): void {
    this.liveMessages?.stop();
  }

  private ensureLive(): Promise<boolean> {
    if (this.live !== undefined) return this.live;
    if (Date.now() < this.liveRetryAt || this.nc.isClosed()) return Promise.resolve(false);
    this.live = this.startLive().then(
      () => true,
      (err: unknown) => {
        this.log.warn({ err }, 'could not start the live event consumer; each event stream reads with its own consumer');
        this.live = undefined;
        this.liveRetryAt = Date.now() + LIVE_RETRY_MS;
        return false;
      },
    );
    return this.live;
  }

  /**
   * Starts one ordered consumer on every task's events from the next sequence the stream will
   * assign, so every event of a task watched from now on reaches its feed. The ordered consumer
   * recreates itself after a gap from the last sequence it delivered; if it stops for good, every
   * feed is detached (its readers continue from the stream) and the next watch starts a new one.
   */
  private async startLive(): Promise<void> {
    const info = await this.jsm.streams.info(this.stream);
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subjects.allTaskEvents, opt_start_seq: info.state.last_seq + 1 });
    const messages = await consumer.consume({ max_messages: LIVE_BATCH, expires: PULL_EXPIRES_MS, callback: (m) => this.onLive(m) });
    this.liveMessages = messages;
    this.sweeper = setInterval(() => this.feeds.sweep(), FEED_SWEEP_MS);
    this.sweeper.unref();
    void messages.closed().then((err) => {
      if (err instanceof Error && !this.nc.isClosed()) this.log.warn({ err }, 'live event consumer stopped; it restarts with the next submit');
      clearInterval(this.sweeper);
      this.live = undefined;
      this.liveMessages = undefined;
      this.feeds.detachAll();
    });
  }

  private onLive(m: JsMsg): void {
    const taskId = taskIdFromSubject(m.subject);
    if (taskId === undefined || !this.feeds.keeps(taskId)) return;
    const event = this.parse(m, taskId);
    if (event !== undefined) this.feeds.append(taskId, { seq: m.seq, event });
  }

  publish(event: TaskEvent): void {
    this.nc.publish(subjects.taskEvents(event.task_id), encode(event));
  }

  async publishDurable(event: TaskEvent): Promise<number> {
    const ack = await this.js.publish(subjects.taskEvents(event.task_id), encode(event));
    return ack.seq;
  }

  read(taskId: string, opts: { afterSeq?: number; signal?: AbortSignal }): AsyncIterable<SequencedTaskEvent> {
    const { signal } = opts;
    const fromStream = (afterSeq: number | undefined): AsyncIterable<SequencedTaskEvent> =>
      this.readStream(taskId, { ...(afterSeq === undefined ? {} : { afterSeq }), ...(signal === undefined ? {} : { signal }) });
    return this.feeds.read(taskId, opts.afterSeq, signal, fromStream) ?? fromStream(opts.afterSeq);
  }

  /** One ordered consumer on the task's subject: stored events, then live ones. */
  private async *readStream(taskId: string, opts: { afterSeq?: number; signal?: AbortSignal }): AsyncIterable<SequencedTaskEvent> {
    const subject = subjects.taskEvents(taskId);
    const { signal } = opts;
    if (aborted(signal)) return;
    if (opts.afterSeq !== undefined) {
      // A resume at or past the terminal event has nothing left to wait for.
      const last = await this.last(taskId);
      if (last !== undefined && last.seq <= opts.afterSeq && isTerminalEvent(last.event)) return;
    }
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
