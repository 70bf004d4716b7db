/**
 * One real nats-server per test file, launched like nats.js's test launcher: a random port
 * (`-p -1` read back from `--ports_file_dir`), a temp JetStream store removed on `stop()`, a capped
 * tail of the server's output, and `restart()` on the same port and store. Built on the embedded
 * launcher that `drover up` uses, so the tests exercise it too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startEmbeddedNats, type EmbeddedNats, type EmbeddedNatsOptions } from '../../src/transport/index.js';

/** A test server; `stop()` also removes its temp store. */
export type TestNats = EmbeddedNats;

/** Starts nats-server with JetStream on a random loopback port and a fresh temp store. */
export async function startNatsServer(
  opts: Pick<EmbeddedNatsOptions, 'configFile' | 'httpPort' | 'binary' | 'logger'> = {},
): Promise<TestNats> {
  const storeDir = await mkdtemp(join(tmpdir(), 'drover-test-nats-'));
  let server: EmbeddedNats;
  try {
    server = await startEmbeddedNats({ ...opts, storeDir, port: -1, host: '127.0.0.1' });
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  return {
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    storeDir,
    output: () => server.output(),
    restart: () => server.restart(),
    stop: async () => {
      await server.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

/**
 * Prints the server's output when a test of the calling file fails. Call once at the top level of
 * a test file; `get` returns the file's server (undefined before it started).
 */
export function printServerOutputOnFailure(get: () => EmbeddedNats | undefined): void {
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      const server = get();
      if (server === undefined) return;
      console.error(`--- nats-server output (${server.url}) ---\n${server.output()}\n--- end of nats-server output ---`);
    });
  });
}

/** A log line as pino writes it. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** pino levels, for assertions on captured lines. */
export const LOG_LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A debug-level pino logger whose lines are kept in memory, for tests that check what was logged. */
export function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

/** Polls `cond` every 5 ms until it holds; fails after `ms`. For real conditions, never for "enough time passed". */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Waits until a flush round-trips, i.e. the client has reconnected after a server restart. Needed
 * because nats.js 2.x loses a request made while it is disconnected (it times out).
 */
export async function waitForReconnect(flush: () => Promise<void>, ms = 10_000): Promise<void> {
  await waitFor(
    () =>
      flush().then(
        () => true,
        () => false,
      ),
    ms,
  );
}

/** Runs `fn` with two plain nats.js connections to `url`, closed afterwards whatever happens. */
export async function withTwoConnections(url: string, fn: (a: NatsConnection, b: NatsConnection) => Promise<void>): Promise<void> {
  const a = await connect({ servers: url });
  const b = await connect({ servers: url }).catch(async (err: unknown) => {
    await a.close();
    throw err;
  });
  try {
    await fn(a, b);
  } finally {
    await a.close();
    await b.close();
  }
}

/**
 * The usual setup of a test file that needs one server: started before its tests, stopped after
 * them, its output printed when one fails. Returns a getter for it (call it inside tests).
 */
export function useNatsServer(): () => TestNats {
  let server: TestNats | undefined;
  printServerOutputOnFailure(() => server);
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('the nats-server of this file is not started');
    return server;
  };
}
