/**
 * NATS micro services (nats.js 2.x `nc.services`) with Drover's wire conventions. Micro gives
 * discovery for free (`$SRV.PING/INFO/STATS.<name>`) and a queue group per endpoint; this module
 * adds what `Bus.serve` does for plain subjects: msgpack unless the request says JSON, the reply in
 * the request's encoding, a bad payload answered with INVALID_PARAMS, a DroverError with its
 * envelope and anything else with INTERNAL (`Drover-Error: 1`), and an endpoint that never dies.
 * Error replies also carry micro's `Nats-Service-Error(-Code)` headers so generic NATS tooling
 * sees them as errors.
 */
import { Match, type NatsConnection, type PublishOptions, type Service, type ServiceMsg } from 'nats';
import type { Logger } from 'pino';
import { encode, makeEnvelope, statusOf, toEnvelope, DroverError, type Encoding, type ErrorEnvelope } from '../protocols/index.js';
import { encodePayload, encodingOfMsg, errorMessage, headerRecord, headersFor, parsePayload } from './bus.js';
import type { MessageInfo, ServiceEndpoint, ServiceHandle, ServiceOptions, Services } from './types.js';

/** micro's error headers (nats.js `ServiceErrorHeader` / `ServiceErrorCodeHeader`). */
const MICRO_ERROR_HEADER = 'Nats-Service-Error';
const MICRO_ERROR_CODE_HEADER = 'Nats-Service-Error-Code';
/** Header values must stay on one line and short. */
const MAX_ERROR_HEADER_CHARS = 256;

/**
 * Builds an endpoint whose handler's request type is inferred from `schema`; the result fits a
 * `ServiceEndpoint[]` list whatever its request type.
 */
export function endpoint<Req>(spec: ServiceEndpoint<Req>): ServiceEndpoint<Req> {
  return spec;
}

/** What a request ends with: a reply body, or an error envelope. */
type Outcome = { body: unknown } | { error: ErrorEnvelope };

/** Replies to `msg` in `encoding`; an error gets `Drover-Error: 1` and micro's error headers. */
function reply(msg: ServiceMsg, outcome: Outcome, encoding: Encoding, log: Logger): void {
  let data: Uint8Array;
  let envelope: ErrorEnvelope | undefined;
  if ('error' in outcome) {
    envelope = outcome.error;
    data = encode(envelope, encoding);
  } else {
    try {
      data = encodePayload(outcome.body, encoding);
    } catch (err) {
      log.error({ err }, 'reply does not encode');
      envelope = makeEnvelope('INTERNAL', `reply does not encode: ${errorMessage(err)}`);
      data = encode(envelope, encoding);
    }
  }
  const hdrs = headersFor(encoding, envelope !== undefined);
  if (envelope !== undefined && hdrs !== undefined) {
    hdrs.set(MICRO_ERROR_CODE_HEADER, String(statusOf(envelope.code)), Match.Exact);
    hdrs.set(MICRO_ERROR_HEADER, `${envelope.code}: ${envelope.message}`.replace(/[\r\n]+/g, ' ').slice(0, MAX_ERROR_HEADER_CHARS), Match.Exact);
  }
  const opts: PublishOptions | undefined = hdrs === undefined ? undefined : { headers: hdrs };
  if (!msg.respond(data, opts)) log.warn('could not send reply (connection closed?)');
}

/** Answers one request of `ep`: parse, run, reply. Never throws. */
async function answer(ep: ServiceEndpoint, msg: ServiceMsg, log: Logger): Promise<void> {
  const encoding = encodingOfMsg(msg);
  const parsed = parsePayload(msg, encoding, ep.schema);
  if (!parsed.ok) {
    log.warn({ reason: parsed.reason, encoding }, 'bad request payload');
    reply(msg, { error: makeEnvelope('INVALID_PARAMS', parsed.reason) }, encoding, log);
    return;
  }
  try {
    const info: MessageInfo = { subject: msg.subject, encoding, headers: headerRecord(msg.headers) };
    const result = await ep.handler(parsed.value, info);
    reply(msg, { body: result }, encoding, log);
  } catch (err) {
    if (err instanceof DroverError) log.debug({ error_code: err.code, error_message: err.message }, 'handler failed with a typed error');
    else log.error({ err }, 'handler threw');
    reply(msg, { error: toEnvelope(err) }, encoding, log);
  }
}

/**
 * Starts a micro service on `conn` with `endpoints` and waits until the server has every
 * subscription (a request right after this resolves finds a responder). Each request runs as its
 * own task, so a slow one never holds up the next; `stop()` waits for the tasks in flight.
 */
export async function addService(conn: NatsConnection, opts: ServiceOptions, endpoints: readonly ServiceEndpoint[]): Promise<ServiceHandle> {
  const log = opts.logger.child({ service: opts.name });
  const service: Service = await conn.services.add({
    name: opts.name,
    version: opts.version,
    description: opts.description,
    ...(opts.queue === undefined ? {} : { queue: opts.queue }),
    ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
  });
  const inflight = new Set<Promise<void>>();
  let stopping = false;
  try {
    for (const ep of endpoints) {
      const epLog = log.child({ endpoint: ep.name, subject: ep.subject });
      service.addEndpoint(ep.name, {
        subject: ep.subject,
        handler: (_err, msg) => {
          // micro handles subscription errors itself (it stops the service) before calling us.
          if (msg.reply === '') {
            epLog.warn('message without a reply subject on a service endpoint; ignored');
            return;
          }
          const task = answer(ep, msg, epLog).catch((err: unknown) => epLog.error({ err }, 'request handling failed'));
          inflight.add(task);
          void task.finally(() => inflight.delete(task));
        },
      });
    }
    await conn.flush();
  } catch (err) {
    await service.stop();
    throw err;
  }
  const id = service.info().id;
  void service.stopped.then((result) => {
    if (result instanceof Error && !stopping && !conn.isClosed() && !conn.isDraining()) {
      log.error({ err: result, service_id: id }, 'service stopped unexpectedly');
    }
  });
  log.info({ service_id: id, version: opts.version, endpoints: endpoints.map((e) => e.subject) }, 'service started');
  let stopped: Promise<void> | undefined;
  return {
    name: opts.name,
    id,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        await service.stop();
        await Promise.allSettled([...inflight]);
      })();
      return stopped;
    },
  };
}

/** {@link Services} of one connection; remembers what it started so the transport can stop it. */
export class NatsServices implements Services {
  private readonly running = new Set<ServiceHandle>();

  constructor(private readonly conn: NatsConnection) {}

  async add(opts: ServiceOptions, endpoints: readonly ServiceEndpoint[]): Promise<ServiceHandle> {
    const handle = await addService(this.conn, opts, endpoints);
    this.running.add(handle);
    return {
      name: handle.name,
      id: handle.id,
      stop: async () => {
        this.running.delete(handle);
        await handle.stop();
      },
    };
  }

  /** Stops every service started here (before the connection drains). */
  async stopAll(): Promise<void> {
    const all = [...this.running];
    this.running.clear();
    await Promise.allSettled(all.map((s) => s.stop()));
  }
}
