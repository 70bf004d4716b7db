/**
 * The one NATS connection of a Drover process and what is built on it: the bus, the event log and
 * KV buckets. This module owns the connection policy (reconnect forever, log each disconnect and
 * reconnect once) and the JetStream topology Drover relies on (the `DROVER_EVENTS` stream is
 * created or brought up to date on every connect, so a new version's config wins).
 */
import {
  connect,
  DiscardPolicy,
  Events,
  NatsError,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import type { Logger } from 'pino';
import { coalesceWritesPerTurn } from './write-coalescing.js';
import { encodeCommandsWithBuffer } from './command-encoding.js';
import { settleAnsweredRequestsQuietly } from './request-settle.js';
import type { ZodType } from 'zod';
import { STREAMS } from '../protocols/index.js';
import { AckedPublisher } from './acked-publish.js';
import { NatsBus } from './bus.js';
import { ReplyInbox } from './reply-inbox.js';
import { JetStreamEventLog } from './events.js';
import { NatsKvStore } from './kv.js';
import { NatsServices } from './services.js';
import type { KvOptions, KvStore, Transport } from './types.js';

/** Default retention of task events: long enough to resume or replay any recent task. */
export const DEFAULT_EVENTS_MAX_AGE_MS = 60 * 60 * 1000;
/**
 * Default size cap of the events stream. Without one, a busy hour of tokens could fill the
 * server's JetStream storage and then every JetStream write (KV included) would fail; with it,
 * the oldest events are discarded first.
 */
export const DEFAULT_EVENTS_MAX_BYTES = 512 * 1024 * 1024;
/** Wait between reconnect attempts (plus up to 200 ms jitter). */
const RECONNECT_WAIT_MS = 1_000;
/** Timeout of JetStream API calls. */
const JS_API_TIMEOUT_MS = 5_000;

/** Options of {@link connectTransport}. */
export interface TransportOptions {
  /** NATS server URL, e.g. `nats://127.0.0.1:4222`; several may be given comma-separated. */
  url: string;
  /** Connection name shown by the server (`nats server report connections`). */
  name: string;
  logger: Logger;
  /** Retention of the `DROVER_EVENTS` stream (default 1 h). */
  eventsMaxAgeMs?: number;
  /** Size cap of the `DROVER_EVENTS` stream in bytes (default 512 MiB; -1 = unlimited). */
  eventsMaxBytes?: number;
  /** Options for buckets that `kv()` creates, unless the call gives its own. */
  kvDefaults?: KvOptions;
  /**
   * Create or update the `DROVER_EVENTS` stream on connect (default true). A tool that only talks
   * to a running Drover (`drover ctl`) passes false, so it never rewrites that system's retention.
   */
  manageStreams?: boolean;
}

/** Creates the events stream, or updates its mutable settings if it exists. Idempotent. */
export async function ensureEventsStream(jsm: JetStreamManager, opts: { maxAgeMs: number; maxBytes: number }): Promise<void> {
  const wanted: Partial<StreamConfig> = {
    subjects: [...STREAMS.events.subjects],
    max_age: nanos(opts.maxAgeMs),
    max_bytes: opts.maxBytes,
    discard: DiscardPolicy.Old,
    allow_direct: true,
  };
  const existing = await jsm.streams.info(STREAMS.events.name).catch((err: unknown) => {
    if (err instanceof NatsError && err.api_error?.err_code === 10059) return undefined; // stream not found
    throw err;
  });
  if (existing === undefined) {
    try {
      await jsm.streams.add({
        ...wanted,
        name: STREAMS.events.name,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        num_replicas: 1,
      });
      return;
    } catch (err) {
      // Another process created it first: fall through to update.
      if (!(err instanceof NatsError && err.api_error?.err_code === 10058)) throw err;
    }
  }
  await jsm.streams.update(STREAMS.events.name, wanted);
}

/**
 * Connects to NATS, ensures the `DROVER_EVENTS` stream and returns the transport. The connection
 * reconnects forever; requests made while it is down fail with their timeout.
 */
export async function connectTransport(opts: TransportOptions): Promise<Transport> {
  const log = opts.logger.child({ area: 'transport' });
  const nc = await connect({
    servers: opts.url.split(',').map((s) => s.trim()),
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: 200,
    waitOnFirstConnect: false,
    // Otherwise every request and JetStream call captures a stack trace up front (for a timeout
    // that rarely comes): about 7 % of the API's CPU under load. Our errors name the operation.
    noAsyncTraces: true,
  });
  void watchStatus(nc, log).catch((err: unknown) => log.error({ err }, 'NATS status watcher failed'));
  if (!settleAnsweredRequestsQuietly()) log.warn('nats.js internals changed: answered requests still build a discarded error (slower, still correct)');
  if (!coalesceWritesPerTurn(nc)) log.warn('nats.js internals changed: socket writes are not coalesced per turn (slower, still correct)');
  if (!encodeCommandsWithBuffer(nc)) log.warn('nats.js internals changed: protocol lines are encoded with TextEncoder (slower, still correct)');
  try {
    const jsm = await nc.jetstreamManager({ timeout: JS_API_TIMEOUT_MS });
    if (opts.manageStreams !== false) {
      await ensureEventsStream(jsm, {
        maxAgeMs: opts.eventsMaxAgeMs ?? DEFAULT_EVENTS_MAX_AGE_MS,
        maxBytes: opts.eventsMaxBytes ?? DEFAULT_EVENTS_MAX_BYTES,
      });
    }
    const js = nc.jetstream({ timeout: JS_API_TIMEOUT_MS });
    const inbox = new ReplyInbox(nc);
    const bus = new NatsBus(nc, log, opts.url, inbox);
    const acked = new AckedPublisher(inbox, JS_API_TIMEOUT_MS);
    const events = new JetStreamEventLog(nc, js, jsm, log, acked.publish);
    const services = new NatsServices(nc);
    log.info({ url: opts.url, server: nc.info?.server_name, version: nc.info?.version }, 'connected to NATS');
    return {
      bus,
      events,
      async kv<T>(bucket: string, schema: ZodType<T>, kvOpts?: KvOptions): Promise<KvStore<T>> {
        const o = { ...opts.kvDefaults, ...kvOpts };
        const view = await js.views.kv(bucket, {
          ...(o.maxAgeMs === undefined ? {} : { ttl: o.maxAgeMs }), // nats.js 2.x: `ttl` in ms → stream max_age
          ...(o.history === undefined ? {} : { history: o.history }),
        });
        return new NatsKvStore(bucket, view, schema, log, acked.publish);
      },
      services,
      close: async () => {
        await services.stopAll();
        events.close();
        await bus.close();
        // After the drain, which delivered every reply that came: what is left waited in vain.
        inbox.close();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** Logs connection state changes: one line per disconnect and per reconnect, not per attempt. */
async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case Events.Disconnect:
        log.warn({ server: s.data }, 'NATS disconnected; reconnecting');
        break;
      case Events.Reconnect:
        log.info({ server: s.data }, 'NATS reconnected');
        break;
      case Events.LDM:
        log.warn({ server: s.data }, 'NATS server entering lame duck mode');
        break;
      case Events.Error:
        log.error({ err: s.data }, 'NATS connection error');
        break;
      default:
        break;
    }
  }
}
