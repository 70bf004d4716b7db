/**
 * The transport's face: the only way other areas reach NATS. Connect with `connectTransport`, or
 * spawn a local server with `startEmbeddedNats` first (`drover up` without `DROVER_NATS_URL`).
 */
export { connectTransport, ensureEventsStream, DEFAULT_EVENTS_MAX_AGE_MS, DEFAULT_EVENTS_MAX_BYTES } from './connection.js';
export { startEmbeddedNats, findNatsServer, NATS_SERVER_MISSING_MESSAGE } from './embedded.js';
export { ERROR_HEADER, CONTENT_TYPE_HEADER, DEFAULT_REQUEST_TIMEOUT_MS } from './bus.js';
export { addService, endpoint } from './services.js';
export type { TransportOptions } from './connection.js';
export type { EmbeddedNatsOptions } from './embedded.js';
export type {
  Bus,
  EmbeddedNats,
  EventLog,
  KvOptions,
  KvStore,
  MessageInfo,
  ServiceEndpoint,
  ServiceHandle,
  ServiceOptions,
  Services,
  Subscription,
  TaskWatch,
  Transport,
} from './types.js';
