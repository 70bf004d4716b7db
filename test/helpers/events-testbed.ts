/**
 * The set-up shared by the transport event tests: a real nats-server for the test file, a
 * Transport on it, and a raw connection with its JetStream manager to look under the Transport.
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll } from 'vitest';
import { connectTransport, type Transport } from '../../src/transport/index.js';
import { captureLogs, printServerOutputOnFailure, startNatsServer, type TestNats } from './nats-server.js';
import { consumerCount, writeTask } from './task-events.js';

export interface EventsTestbed {
  /** The server (restartable); set once `beforeAll` ran. */
  readonly server: TestNats;
  readonly transport: Transport;
  readonly raw: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly logs: ReturnType<typeof captureLogs>;
  /** Publishes started, n tokens and a durable end through the Transport. */
  writeTask(task: string, n: number): Promise<void>;
  /** Consumers the events stream has right now. */
  consumerCount(): Promise<number>;
}

/** Registers the file's beforeAll/afterAll; the Transport is named `name`. */
export function eventsTestbed(name: string): EventsTestbed {
  let server: TestNats | undefined;
  let transport: Transport | undefined;
  let raw: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  const logs = captureLogs();
  printServerOutputOnFailure(() => server);
  beforeAll(async () => {
    server = await startNatsServer();
    transport = await connectTransport({ url: server.url, name, logger: logs.logger });
    raw = await connect({ servers: server.url });
    jsm = await raw.jetstreamManager();
  });
  afterAll(async () => {
    await raw?.close();
    await transport?.close();
    await server?.stop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the events testbed is used before its beforeAll ran');
    return value;
  };
  return {
    get server() { return ready(server); },
    get transport() { return ready(transport); },
    get raw() { return ready(raw); },
    get jsm() { return ready(jsm); },
    logs,
    writeTask: (task, n) => writeTask(ready(transport).events, task, n),
    consumerCount: () => consumerCount(ready(jsm)),
  };
}
