/**
 * The typed bus over core NATS. This module owns the wire conventions of DESIGN §4 for
 * request/reply and pub/sub: payload encoding by `Content-Type` (msgpack unless the message says
 * JSON, replies in the request's encoding), error replies (`Drover-Error: 1` + ErrorEnvelope), and
 * the mapping of NATS failures (no responders, timeouts) to DroverErrors. Nobody else builds
 * headers or interprets NATS error codes.
 */
import { headers as natsHeaders, Match, type Msg, type MsgHdrs, type NatsConnection, type Subscription as NatsSubscription } from 'nats';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import {
  DroverError,
  ErrorEnvelopeSchema,
  JSON_CONTENT_TYPE,
  decode,
  describeZodError,
  encode,
  encodingOf,
  makeEnvelope,
  toEnvelope,
  type Encoding,
  type ErrorEnvelope,
} from '../protocols/index.js';
import { NoRespondersError, ReplyTimeoutError, type ReplyInbox } from './reply-inbox.js';
import type { Bus, MessageInfo, Subscription } from './types.js';

/** Header that marks a reply as an ErrorEnvelope. */
export const ERROR_HEADER = 'Drover-Error';
/** Header that says how a payload is encoded. */
export const CONTENT_TYPE_HEADER = 'Content-Type';
/** Request timeout when the caller gives none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

const EMPTY = new Uint8Array(0);

/** Encodes a payload; `undefined` travels as an empty payload (which decodes back to undefined). */
export function encodePayload(value: unknown, encoding: Encoding): Uint8Array {
  return value === undefined ? EMPTY : encode(value, encoding);
}

/** Headers to send with a payload: JSON says so; msgpack, the default, needs none. */
export function headersFor(encoding: Encoding, error = false): MsgHdrs | undefined {
  if (encoding === 'msgpack' && !error) return undefined;
  const h = natsHeaders();
  if (encoding === 'json') h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  if (error) h.set(ERROR_HEADER, '1');
  return h;
}

/** The encoding a message says it uses (`Content-Type`), msgpack by default. */
export function encodingOfMsg(msg: Msg): Encoding {
  return encodingOf(msg.headers?.get(CONTENT_TYPE_HEADER, Match.IgnoreCase));
}

/** A message's headers as a plain record (first value of each). */
export function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const [k, v] of h) {
    const first = v[0];
    if (first !== undefined) out[k] = first;
  }
  return out;
}

/** The result of decoding and checking an incoming payload. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Decodes a payload and checks it with `schema`; never throws. */
export function parsePayload<T>(msg: Msg, encoding: Encoding, schema: ZodType<T>): Parsed<T> {
  let raw: unknown;
  try {
    raw = decode(msg.data, encoding);
  } catch (err) {
    return { ok: false, reason: `payload is not valid ${encoding}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const result = schema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, reason: describeZodError(result.error) };
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** {@link Bus} over one NATS connection. */
export class NatsBus implements Bus {
  private closed: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    readonly url: string,
    /** Where requests wait for their reply (one subscription for all of them). */
    private readonly inbox: ReplyInbox,
  ) {}

  async request<Res>(
    subject: string,
    payload: unknown,
    opts: { schema: ZodType<Res>; timeoutMs?: number; encoding?: Encoding },
  ): Promise<Res> {
    const encoding = opts.encoding ?? 'msgpack';
    const timeout = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const hdrs = headersFor(encoding);
    let reply: Msg;
    try {
      reply = await this.inbox.request(subject, encodePayload(payload, encoding), { timeoutMs: timeout, headers: hdrs });
    } catch (err) {
      if (err instanceof NoRespondersError) {
        throw new DroverError('POOL_UNAVAILABLE', `no scheduler answers on ${subject}`, { retryAfterMs: 1000, cause: err });
      }
      if (err instanceof ReplyTimeoutError) {
        throw new DroverError('INTERNAL', `request on ${subject} timed out after ${timeout} ms`, { cause: err });
      }
      throw new DroverError('INTERNAL', `request on ${subject} failed: ${errorMessage(err)}`, { cause: err });
    }

    const replyEncoding = encodingOfMsg(reply);
    if (reply.headers?.get(ERROR_HEADER, Match.IgnoreCase) === '1') {
      const env = parsePayload(reply, replyEncoding, ErrorEnvelopeSchema);
      if (!env.ok) throw new DroverError('INTERNAL', `malformed error reply on ${subject}: ${env.reason}`);
      throw DroverError.fromEnvelope(env.value);
    }
    const parsed = parsePayload(reply, replyEncoding, opts.schema);
    if (!parsed.ok) throw new DroverError('INTERNAL', `invalid reply on ${subject}: ${parsed.reason}`);
    return parsed.value;
  }

  serve<Req, Res>(
    subject: string,
    opts: { schema: ZodType<Req>; queue?: string },
    handler: (req: Req, info: MessageInfo) => Promise<Res> | Res,
  ): Subscription {
    const log = this.log.child({ subject, ...(opts.queue === undefined ? {} : { queue: opts.queue }) });
    const answer = async (msg: Msg): Promise<void> => {
      const encoding = encodingOfMsg(msg);
      const respond = (body: unknown, error: boolean): void => {
        let data: Uint8Array;
        try {
          data = encodePayload(body, encoding);
        } catch (err) {
          log.error({ err }, 'reply does not encode');
          data = encode(makeEnvelope('INTERNAL', `reply does not encode: ${errorMessage(err)}`), encoding);
          error = true;
        }
        const hdrs = headersFor(encoding, error);
        if (!msg.respond(data, hdrs === undefined ? undefined : { headers: hdrs })) {
          log.warn('could not send reply (connection closed?)');
        }
      };
      const parsed = parsePayload(msg, encoding, opts.schema);
      if (!parsed.ok) {
        log.warn({ reason: parsed.reason, encoding }, 'bad request payload');
        respond(makeEnvelope('INVALID_PARAMS', parsed.reason), true);
        return;
      }
      try {
        const info: MessageInfo = { subject: msg.subject, encoding, headers: headerRecord(msg.headers) };
        const result = await handler(parsed.value, info);
        respond(result, false);
      } catch (err) {
        const env: ErrorEnvelope = toEnvelope(err);
        if (err instanceof DroverError) log.debug({ error_code: err.code, error_message: err.message }, 'handler failed with a typed error');
        else log.error({ err }, 'handler threw');
        respond(env, true);
      }
    };
    return this.track(subject, opts.queue, (msg) => {
      if (msg.reply === undefined || msg.reply === '') {
        log.warn('message without a reply subject on a served subject; ignored');
        return undefined;
      }
      return answer(msg);
    });
  }

  publish(subject: string, payload: unknown, encoding: Encoding = 'msgpack'): void {
    const hdrs = headersFor(encoding);
    this.nc.publish(subject, encodePayload(payload, encoding), hdrs === undefined ? undefined : { headers: hdrs });
  }

  subscribe<T>(
    subject: string,
    opts: { schema: ZodType<T>; queue?: string },
    handler: (value: T, info: MessageInfo) => void | Promise<void>,
  ): Subscription {
    const log = this.log.child({ subject });
    return this.track(subject, opts.queue, (msg) => {
      const encoding = encodingOfMsg(msg);
      const parsed = parsePayload(msg, encoding, opts.schema);
      if (!parsed.ok) {
        log.warn({ reason: parsed.reason, encoding, msg_subject: msg.subject }, 'bad message dropped');
        return undefined;
      }
      try {
        const out = handler(parsed.value, { subject: msg.subject, encoding, headers: headerRecord(msg.headers) });
        return out instanceof Promise ? out.catch((err: unknown) => log.error({ err }, 'subscriber failed')) : undefined;
      } catch (err) {
        log.error({ err }, 'subscriber failed');
        return undefined;
      }
    });
  }

  /**
   * Subscribes with a callback that starts one task per message (so a slow one never holds up the
   * next) and remembers the tasks in flight, so that unsubscribing can wait for them.
   */
  private track(subject: string, queue: string | undefined, onMessage: (msg: Msg) => Promise<void> | undefined): Subscription {
    const inflight = new Set<Promise<void>>();
    const log = this.log;
    const sub: NatsSubscription = this.nc.subscribe(subject, {
      ...(queue === undefined ? {} : { queue }),
      callback: (err, msg) => {
        if (err !== null) {
          log.error({ err, subject }, 'subscription error');
          return;
        }
        let task: Promise<void> | undefined;
        try {
          task = onMessage(msg);
        } catch (e) {
          log.error({ err: e, subject }, 'message handling failed');
        }
        if (task === undefined) return;
        const settled = task.catch((e: unknown) => log.error({ err: e, subject }, 'message handling failed'));
        inflight.add(settled);
        void settled.finally(() => inflight.delete(settled));
      },
    });
    return {
      unsubscribe: async () => {
        if (!sub.isClosed() && !this.nc.isClosed()) {
          try {
            await sub.drain();
          } catch (err) {
            log.debug({ err, subject }, 'drain failed; unsubscribing');
            sub.unsubscribe();
          }
        }
        await Promise.allSettled([...inflight]);
      },
    };
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  close(): Promise<void> {
    this.closed ??= this.nc.isClosed() ? Promise.resolve() : this.drainAndClose();
    return this.closed;
  }

  /**
   * `nc.drain()`, then a flush and close if the drain left the connection open. nats.js 2.x's drain
   * drains every subscription first, and one that had already stopped while still listed (a
   * subscription whose `timeout` fired, or whose callback was handed an error) refuses; that
   * rejection is swallowed, so the drain resolves at once with nothing flushed and the connection
   * open. A stop then "finished" even with nats-server frozen, instead of waiting for it.
   */
  private async drainAndClose(): Promise<void> {
    try {
      await this.nc.drain();
    } catch (err) {
      if (!this.nc.isClosed()) throw err;
    }
    if (this.nc.isClosed()) return;
    this.log.warn('the NATS drain left the connection open (a subscription had stopped); flushing and closing it');
    await this.nc.flush();
    await this.nc.close();
  }
}
