/**
 * Requests over one reply subscription of the connection: every request gets a token under one
 * inbox prefix, and one wildcard subscription hands each reply to its waiting promise.
 *
 * nats.js's `nc.request` muxes replies the same way, but builds a request object, a timer and a
 * deferred promise per request (and `js.publish` adds a header block to every message); against a
 * local nats-server that measured 17 µs of client CPU per request and 21-25 µs per acknowledged
 * JetStream publish, against 7-9 µs here. Timeouts are swept every 100 ms while anything waits,
 * instead of timed one by one.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type NatsError, type PublishOptions, type Subscription } from 'nats';

/** How often waiting requests are checked for their deadline. */
const SWEEP_MS = 100;

/** No answer came within the request's timeout. */
export class ReplyTimeoutError extends Error {
  constructor(subject: string, timeoutMs: number) {
    super(`TIMEOUT: no reply on ${subject} within ${timeoutMs} ms`);
    this.name = 'ReplyTimeoutError';
  }
}

/** Nobody listens on the subject (the server's 503 "no responders" status). */
export class NoRespondersError extends Error {
  constructor(subject: string) {
    super(`no responders on ${subject}`);
    this.name = 'NoRespondersError';
  }
}

interface Waiting {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  subject: string;
  timeoutMs: number;
  deadline: number;
}

/** One connection's requests, answered on one subscription; see the module comment. */
export class ReplyInbox {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private readonly subscription: Subscription;
  private sweeper: NodeJS.Timeout | undefined;
  private next = 0;
  private closed = false;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
  }

  /** Publishes `data` on `subject` and resolves with the first reply; rejects after `timeoutMs`. */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: MsgHdrs | undefined }): Promise<Msg> {
    if (this.closed) return Promise.reject(new Error(`cannot send on ${subject}: the NATS connection is closed`));
    const token = (this.next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const publishOpts: PublishOptions = { reply: this.prefix + token };
      if (opts.headers !== undefined) publishOpts.headers = opts.headers;
      this.waiting.set(token, { resolve, reject, subject, timeoutMs: opts.timeoutMs, deadline: performance.now() + opts.timeoutMs });
      if (this.sweeper === undefined) {
        this.sweeper = setInterval(() => this.expire(performance.now()), SWEEP_MS);
        this.sweeper.unref();
      }
      try {
        this.nc.publish(subject, data, publishOpts);
      } catch (err) {
        this.settled(token);
        reject(err as Error);
      }
    });
  }

  /** Fails every waiting request, and every later one (the connection is closing). */
  close(): void {
    this.closed = true;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    this.stopSweeping();
    for (const w of waiting) w.reject(new Error(`the NATS connection closed before a reply on ${w.subject}`));
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
  }

  private onReply(err: NatsError | null, msg: Msg): void {
    if (err !== null) {
      // The subscription itself failed (e.g. permissions): nothing waiting can be answered.
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      this.stopSweeping();
      for (const w of waiting) w.reject(err);
      return;
    }
    const token = msg.subject.slice(this.prefix.length);
    const waiting = this.waiting.get(token);
    if (waiting === undefined) return; // timed out already
    this.settled(token);
    if (msg.headers?.hasError === true && msg.headers.code === 503) waiting.reject(new NoRespondersError(waiting.subject));
    else waiting.resolve(msg);
  }

  private settled(token: string): void {
    this.waiting.delete(token);
    if (this.waiting.size === 0) this.stopSweeping();
  }

  private expire(now: number): void {
    for (const [token, waiting] of this.waiting) {
      if (waiting.deadline > now) continue;
      this.settled(token);
      waiting.reject(new ReplyTimeoutError(waiting.subject, waiting.timeoutMs));
    }
  }

  private stopSweeping(): void {
    if (this.sweeper === undefined) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
