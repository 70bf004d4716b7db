/**
 * Contract between the HTTP front door and the rest of Drover. The API only speaks to a
 * TaskGateway; the real one goes over NATS (submit/cancel/pools requests, KV reads, the event
 * stream), so front doors and schedulers scale separately.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type {
  AdmissionResponse,
  CancelReply,
  EngineKind,
  PoolView,
  TaskEvent,
  TaskRecord,
  TaskSpec,
} from '../protocols/index.js';

/** What the API needs from the scheduler side; implementations live outside `src/api/`. */
export interface TaskGateway {
  /** Admits a task; throws DroverError (ADMISSION_REJECT, POOL_UNAVAILABLE, TASK_EXISTS, …). */
  submit(spec: TaskSpec, correlationId: string): Promise<AdmissionResponse>;
  /** The durable record, or undefined for an unknown id. */
  get(taskId: string): Promise<TaskRecord | undefined>;
  /** True for a known task; may answer without a read when this front door admitted it. */
  exists(taskId: string): Promise<boolean>;
  /** Events after position `afterPosition` (an SSE id; see `positionOf`), replayed then live, ending at the terminal event. */
  events(taskId: string, afterPosition: number | undefined, signal: AbortSignal): AsyncIterable<TaskEvent>;
  /** Cancels; throws DroverError NOT_FOUND for an unknown id. Resolves after the task has stopped. */
  cancel(taskId: string, correlationId: string): Promise<CancelReply>;
  /** Every pool with replicas and slots. */
  pools(): Promise<PoolView[]>;
  /** True when the scheduler answers (for /readyz). */
  ready(): Promise<boolean>;
}

/** Options of `buildApi`: everything the HTTP front door needs, injected. */
export interface ApiOptions {
  /** The only thing the API talks to. */
  gateway: TaskGateway;
  /** Fastify's logger; per-request children carry `correlation_id`. The API adds redaction of credentials. */
  logger: Logger;
  /** Registry the HTTP metrics are registered on and `/metrics` serves. */
  registry: Registry;
  /** When set, every route except `/healthz` and `/readyz` needs `Authorization: Bearer <apiToken>`. */
  apiToken?: string;
  /** Task and session id generator for requests that omit them (default `crypto.randomUUID`). */
  newId?: () => string;
  /** Idle interval after which an SSE stream gets a `: ping` comment (default 15 000 ms). */
  sseHeartbeatMs?: number;
}

/** One engine kind in `GET /v2/meta/capabilities` (llama-orch Capabilities + OC-CTRL-2060). */
export interface EngineCapabilities {
  /** Engine kind. */
  engine: EngineKind;
  /** Largest context any replica of this engine reports; absent when none reports one. */
  ctx_max?: number;
  /** Workloads the door accepts for this engine. */
  supported_workloads: readonly string[];
  /** Upper bound on max_tokens accepted at the door. */
  max_tokens_out: number;
  /** Sum of `slots_total` over this engine's pools. */
  slots: number;
  /** Ids of the pools running this engine. */
  pools: string[];
}

/** `GET /v2/meta/capabilities` body. */
export interface Capabilities {
  /** Native API version. */
  api_version: '2.0';
  /** One entry per engine kind present in the fleet. */
  engines: EngineCapabilities[];
}
