/**
 * Contracts of the transport: the only area that imports the NATS client. Actors and the API see
 * these interfaces; payloads are parsed with zod on the way in and encoded with the codec of
 * `protocols/codec.ts` (msgpack, or JSON when the message says `Content-Type: application/json`).
 */
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { Encoding, TaskEvent } from '../protocols/index.js';

/** A live subscription or service endpoint. */
export interface Subscription {
  /** Stops receiving; in-flight handlers finish. */
  unsubscribe(): Promise<void>;
}

/** Metadata of a received message. */
export interface MessageInfo {
  subject: string;
  encoding: Encoding;
  headers: Record<string, string>;
}

/** Typed messaging over NATS. */
export interface Bus {
  /** Server URL this bus is connected to. */
  readonly url: string;
  /**
   * Request/reply. The reply is parsed with `schema`; an error reply (header `Drover-Error: 1`,
   * body = ErrorEnvelope) is thrown as a DroverError with its code. No responders is thrown as
   * `POOL_UNAVAILABLE` (retry after 1 s); a timeout or a reply that does not decode or fails
   * `schema` as `INTERNAL`.
   */
  request<Res>(subject: string, payload: unknown, opts: { schema: ZodType<Res>; timeoutMs?: number; encoding?: Encoding }): Promise<Res>;
  /**
   * Answers requests on `subject` (optionally in a queue group). A payload that does not decode or
   * fails `schema` gets an INVALID_PARAMS envelope and is logged once; a handler that throws a
   * DroverError gets that envelope; anything else gets INTERNAL. The subscription never dies.
   * The reply is encoded like the request.
   */
  serve<Req, Res>(
    subject: string,
    opts: { schema: ZodType<Req>; queue?: string },
    handler: (req: Req, info: MessageInfo) => Promise<Res> | Res,
  ): Subscription;
  /** Core publish (fire-and-forget). */
  publish(subject: string, payload: unknown, encoding?: Encoding): void;
  /** Subscribes; messages that fail `schema` are logged and dropped. */
  subscribe<T>(
    subject: string,
    opts: { schema: ZodType<T>; queue?: string },
    handler: (value: T, info: MessageInfo) => void | Promise<void>,
  ): Subscription;
  /** Round trip to the server: everything published before has been received by it. */
  flush(): Promise<void>;
  /** Drains and closes the connection. */
  close(): Promise<void>;
}

/** A JetStream KV bucket of zod-checked JSON records, with compare-and-set. */
export interface KvStore<T> {
  readonly bucket: string;
  get(key: string): Promise<{ value: T; revision: number } | undefined>;
  /** Creates the key; returns undefined when it already exists (no overwrite). */
  create(key: string, value: T): Promise<number | undefined>;
  /** Writes only if the key is still at `revision`; returns the new revision or undefined on conflict. */
  update(key: string, value: T, revision: number): Promise<number | undefined>;
  /** Unconditional write. */
  put(key: string, value: T): Promise<number>;
  delete(key: string): Promise<void>;
  /** Deletes only if the key is still at `revision`; false on conflict (compare-and-delete). */
  deleteAt(key: string, revision: number): Promise<boolean>;
  /** Every current key. */
  keys(): Promise<string[]>;
  /**
   * Every current entry. Entries whose stored value fails the schema are skipped and logged,
   * never thrown.
   */
  entries(): Promise<Array<{ key: string; value: T; revision: number }>>;
}

/** Options of a KV bucket. */
export interface KvOptions {
  /** Entries older than this are dropped by the server (nats-server 2.9 has no per-key TTL). */
  maxAgeMs?: number;
  history?: number;
}

/** Task events in the `DROVER_EVENTS` stream. */
export interface EventLog {
  /** Core publish; captured by the stream. Cheap: use for tokens. */
  publish(event: TaskEvent): void;
  /** JetStream publish; resolves once the stream has stored it. Use for terminal events. */
  publishDurable(event: TaskEvent): Promise<void>;
  /**
   * Every event of `taskId` after position `afterPosition` (all when undefined; see `positionOf`):
   * stored ones first, then live ones, in order; ends after the terminal event (`end`/`error`) or
   * when `signal` aborts.
   */
  read(taskId: string, opts: { afterPosition?: number; signal?: AbortSignal }): AsyncIterable<TaskEvent>;
  /**
   * Keeps `taskId`'s events in memory from its first one, so that `read` of it here is served from
   * memory when this process also runs the task. Call it before the submit that creates the task,
   * then `admitted()` once the submit is accepted or `release()` if it is refused. A task admitted
   * without a {@link claim} runs elsewhere: `admitted()` drops what was kept and reads use the
   * stream. When the task is already watched both do nothing, and reads use the stream.
   */
  watch(taskId: string): TaskWatch;
  /**
   * Says that every event of `taskId` is published through this log: placement in this process
   * admits it. Called before the submit is answered, so the watcher knows by then where the
   * events come from.
   */
  claim(taskId: string): void;
  /** True while `taskId` is watched, admitted and claimed here: it exists, and its events are in memory. */
  watching(taskId: string): boolean;
  /** Ends every in-memory read (they continue from the stream) and stops the feed sweeper. */
  close(): void;
}

/** The hold of a submit on its task's in-memory events (`EventLog.watch`). */
export interface TaskWatch {
  /** The submit was admitted: readers may use the memory if the task was claimed here, else it is dropped. */
  admitted(): void;
  /** The submit was refused: drop what was kept. */
  release(): void;
}

/** A running nats-server spawned by Drover (or by a test). */
export interface EmbeddedNats {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Last lines the server wrote to stderr (capped), for diagnostics. */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Stops and starts again on the same port and store. */
  restart(): Promise<void>;
}

/**
 * One request/reply endpoint of a micro service. The request is decoded and checked with `schema`
 * before `handler` runs. `handler` is declared as a method so that endpoints with different request
 * types fit in one list; build them with `endpoint()` to have `req` typed from `schema`.
 */
export interface ServiceEndpoint<Req = unknown> {
  /** Endpoint name shown by `$SRV.INFO` / `$SRV.STATS` (letters, digits, `-`, `_`). */
  name: string;
  /** Subject the endpoint answers on. */
  subject: string;
  /** Request schema; a payload that does not decode or fails it gets INVALID_PARAMS. */
  schema: ZodType<Req>;
  /** The reply; a DroverError becomes its envelope, anything else thrown becomes INTERNAL. */
  handler(req: Req, info: MessageInfo): Promise<unknown>;
}

/** Identity of a micro service. */
export interface ServiceOptions {
  /** Service name (`$SRV.PING.<name>`); letters, digits, `-`, `_`. */
  name: string;
  /** Semver; micro refuses anything else. */
  version: string;
  description: string;
  logger: Logger;
  /** Queue group of every endpoint (default micro's `q`): one instance answers each request. */
  queue?: string;
  /** Shown by `$SRV.INFO` and `$SRV.PING`. */
  metadata?: Record<string, string>;
}

/** A running micro service. */
export interface ServiceHandle {
  readonly name: string;
  /** Instance id the service answers `$SRV.*.<name>.<id>` with. */
  readonly id: string;
  /** Stops answering, then waits for handlers in flight. Idempotent. */
  stop(): Promise<void>;
}

/**
 * NATS micro services (`$SRV.PING/INFO/STATS` discovery) whose endpoints follow the same payload
 * rules as {@link Bus.serve}: msgpack unless the request says JSON, the reply in the request's
 * encoding, errors as an ErrorEnvelope with `Drover-Error: 1`, and an endpoint that never dies.
 */
export interface Services {
  /** Starts a service with its endpoints; resolves once the server knows every subscription. */
  add(opts: ServiceOptions, endpoints: readonly ServiceEndpoint[]): Promise<ServiceHandle>;
}

/** One connection to NATS and everything Drover builds on it. */
export interface Transport {
  /** Typed request/reply and pub/sub. */
  readonly bus: Bus;
  /** Task events in the `DROVER_EVENTS` stream (ensured on connect). */
  readonly events: EventLog;
  /**
   * Opens (creating it if missing) a KV bucket whose values are checked with `schema`. Options of
   * an existing bucket are left as they are.
   */
  kv<T>(bucket: string, schema: ZodType<T>, opts?: KvOptions): Promise<KvStore<T>>;
  /** NATS micro services on this connection; stopped by `close()` before the drain. */
  readonly services: Services;
  /** Drains and closes the connection; idempotent (also closes `bus`). */
  close(): Promise<void>;
}

