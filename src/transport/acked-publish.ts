/**
 * JetStream publishes that resolve once the stream stored the message, all answered on one reply
 * subscription of the connection.
 *
 * nats.js's `js.publish` (which its KV `create`/`update` use too) sends every message with a
 * header block, and waits for the ack through a request of its own: a request object, a timer and
 * a deferred promise each. A micro-benchmark against a local nats-server measured 21-25 µs of
 * client CPU per acknowledged publish that way, against 7-9 µs for a plain publish with a reply
 * subject answered on one shared wildcard subscription. A relayed task makes three of them (the
 * record's create and last update, and its terminal event), so this is a tenth of its CPU.
 *
 * Timeouts are swept every quarter of the timeout rather than timed per publish.
 */
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection, type NatsError, type PublishOptions, type Subscription } from 'nats';

/** Header that makes a publish conditional on the subject's last sequence (KV compare-and-set). */
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';

/** The stream refused a publish: `errCode` is JetStream's error code (10071: wrong last sequence). */
export class JetStreamPublishError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errCode: number,
  ) {
    super(message);
    this.name = 'JetStreamPublishError';
  }
}

/** A publish that resolves with the stream sequence once stored; see {@link AckedPublisher}. */
export type StoredPublish = (subject: string, data: Uint8Array, opts?: { expectedLastSubjectSequence?: number }) => Promise<number>;

interface PendingAck {
  resolve(seq: number): void;
  reject(err: Error): void;
  subject: string;
  deadline: number;
}

const decoder = new TextDecoder();

/** Acknowledged JetStream publishes over one reply subscription; see the module comment. */
export class AckedPublisher {
  private readonly prefix: string;
  private readonly pending = new Map<string, PendingAck>();
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.expire(performance.now()), Math.max(10, Math.floor(timeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Publishes `data` on `subject` and resolves with its stream sequence once the stream stored it. */
  readonly publish: StoredPublish = (subject, data, opts) => {
    if (this.closed) return Promise.reject(new Error(`cannot publish ${subject}: the NATS connection is closed`));
    const token = (this.next++).toString(36);
    return new Promise<number>((resolve, reject) => {
      const publishOpts: PublishOptions = { reply: this.prefix + token };
      if (opts?.expectedLastSubjectSequence !== undefined) {
        const h = natsHeaders();
        h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(opts.expectedLastSubjectSequence));
        publishOpts.headers = h;
      }
      this.pending.set(token, { resolve, reject, subject, deadline: performance.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, publishOpts);
      } catch (err) {
        this.pending.delete(token);
        reject(err as Error);
      }
    });
  };

  /** Fails every waiting publish and stops listening (the connection is closing). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.failAll(new Error('the NATS connection closed before the stream acknowledged the publish'));
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
  }

  private onReply(err: NatsError | null, msg: Msg): void {
    if (err !== null) {
      this.failAll(err);
      return;
    }
    const token = msg.subject.slice(this.prefix.length);
    const waiting = this.pending.get(token);
    if (waiting === undefined) return; // timed out already
    this.pending.delete(token);
    if (msg.headers?.hasError === true) {
      // 503 "no responders": no stream captures the subject.
      waiting.reject(new JetStreamPublishError(`no stream stored ${waiting.subject}: ${msg.headers.code} ${msg.headers.description}`, msg.headers.code, 0));
      return;
    }
    let ack: { seq?: unknown; error?: { code?: unknown; err_code?: unknown; description?: unknown } };
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as typeof ack;
    } catch {
      waiting.reject(new JetStreamPublishError(`unreadable ack for ${waiting.subject}`, 0, 0));
      return;
    }
    if (ack.error !== undefined) {
      const { code, err_code: errCode, description } = ack.error;
      waiting.reject(new JetStreamPublishError(String(description ?? 'publish refused'), Number(code ?? 0), Number(errCode ?? 0)));
    } else if (typeof ack.seq === 'number') {
      waiting.resolve(ack.seq);
    } else {
      waiting.reject(new JetStreamPublishError(`ack for ${waiting.subject} has no sequence`, 0, 0));
    }
  }

  private expire(now: number): void {
    // Insertion order is deadline order (one timeout for all), so the first live one ends the sweep.
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) break;
      this.pending.delete(token);
      waiting.reject(new Error(`TIMEOUT: no ack for ${waiting.subject} within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiting) w.reject(err);
  }
}
