/**
 * The `drover` command: `up` runs a whole Drover process; `submit` streams one task's tokens.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import { ConfigError, loadConfig, redactConfig } from './config.js';
import { startDrover, type DroverHandle } from './start.js';
import { runSubmit } from './submit.js';
import { runCtl } from './ctl.js';
import { runSim } from './sim.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Which code runs: bin/drover picks the build (dist/) when it is current, else the sources. */
const CODE = import.meta.url.endsWith('.ts') ? 'sources (tsx)' : 'build (dist/)';

const USAGE = `usage:
  drover up [--config FILE] [--http-addr HOST:PORT] [--data-dir DIR]
  drover submit --model MODEL [--url URL] [--token TOKEN] [--max-tokens N] [--priority interactive|batch] [--json] PROMPT
  drover sim --authorized-key FILE.pub [--port N] [--scenario FILE] [--api-key KEY] [--time-scale X]
  drover ctl hosts|blacklist|pools|strictness ... [--json] [--nats URL]   (drover ctl help)
  drover help

environment: DROVER_NATS_URL, DROVER_API_TOKEN, DROVER_HTTP_ADDR, DROVER_DATA_DIR,
             DROVER_ADMISSION_CAPACITY, DROVER_ADMISSION_POLICY, DROVER_LOG_LEVEL, DROVER_URL,
             VAST_API_KEY, VAST_API_URL, VAST_SSH_KEY_PATH, DROVER_FLEET_FILE, DROVER_STRICTNESS`;

async function up(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, 'http-addr': { type: 'string' }, 'data-dir': { type: 'string' } },
    strict: true,
  });
  const config = await loadConfig({
    ...(values.config === undefined ? {} : { configFile: values.config }),
    ...(values['http-addr'] === undefined ? {} : { httpAddr: values['http-addr'] }),
    ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
  });
  const log = pino({
    level: config.log_level,
    redact: { paths: ['api_token', 'config.api_token', 'req.headers.authorization', '*.authorization'], censor: '[redacted]' },
  });
  log.info({ config: redactConfig(config), code: CODE }, 'resolved configuration');
  let stopping = false;
  let drover: DroverHandle | undefined;
  /** Why a top-level actor gave up while Drover was still starting (e.g. the HTTP port is taken). */
  let startFailure: string | undefined;
  /** Stops what started, or exits anyway after `shutdown_timeout_ms` (with `code`, or 1 for a clean stop that did not finish). */
  async function stopWithin(handle: DroverHandle, code: number): Promise<void> {
    const deadline = setTimeout(() => {
      log.error({ timeout_ms: config.shutdown_timeout_ms }, 'shutdown did not finish in time; exiting without the rest of it');
      process.exit(code === 0 ? 1 : code);
    }, config.shutdown_timeout_ms); // not unref'd: a stop stuck on a promise alone must not end as exit 0
    await handle.stop();
    clearTimeout(deadline);
  }
  async function shutdown(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
    // Still starting: startDrover fails (or returns) soon, and the code after it stops what started.
    if (drover === undefined) return;
    await stopWithin(drover, code);
    process.exit(code);
  }
  try {
    drover = await startDrover(config, {
      logger: log,
      root: ROOT,
      onFatal: (path, error) => {
        log.fatal({ actor: path, err: error }, 'a top-level actor gave up; shutting down');
        startFailure ??= `${path} gave up: ${error instanceof Error ? error.message : String(error)}`;
        void shutdown(70);
      },
    });
  } catch (err) {
    if (startFailure === undefined) throw err;
    process.stderr.write(`drover: could not start: ${startFailure}\n`);
    return 70;
  }
  if (stopping) {
    await stopWithin(drover, 70);
    process.stderr.write(`drover: could not start: ${startFailure ?? 'stopped while starting'}\n`);
    return 70;
  }
  // Before the ready line, which tells a supervisor that signals are handled from now on. A second
  // signal (either kind) ends the process at once, without the rest of the stop.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) return void shutdown(0);
    log.warn({ signal }, 'second signal: exiting without finishing the shutdown');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  log.info(
    { http: drover.httpUrl, nats: drover.natsUrl, node_id: drover.nodeId, pools: drover.pools.map((p) => p.id) },
    `drover ready: http=${drover.httpUrl} nats=${drover.natsUrl}`,
  );
  return new Promise<number>(() => undefined);
}

async function submit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      'max-tokens': { type: 'string' },
      priority: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const prompt = positionals.join(' ');
  if (values.model === undefined || prompt === '') {
    process.stderr.write(`drover submit: --model and a prompt are required\n${USAGE}\n`);
    return 2;
  }
  const maxTokens = values['max-tokens'] === undefined ? undefined : Number(values['max-tokens']);
  if (maxTokens !== undefined && !Number.isInteger(maxTokens)) {
    process.stderr.write('drover submit: --max-tokens must be an integer\n');
    return 2;
  }
  if (values.priority !== undefined && values.priority !== 'interactive' && values.priority !== 'batch') {
    process.stderr.write('drover submit: --priority is interactive or batch\n');
    return 2;
  }
  const token = values.token ?? process.env.DROVER_API_TOKEN;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    return await runSubmit({
      url: values.url ?? process.env.DROVER_URL ?? 'http://127.0.0.1:8080',
      model: values.model,
      prompt,
      json: values.json,
      out: process.stdout,
      err: process.stderr,
      signal: controller.signal,
      ...(token === undefined ? {} : { token }),
      ...(maxTokens === undefined ? {} : { maxTokens }),
      ...(values.priority === undefined ? {} : { priority: values.priority }),
    });
  } catch (err) {
    if (controller.signal.aborted) return 130;
    process.stderr.write(`drover submit: ${(err as Error).message}\n`);
    return 1;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return up(rest);
    case 'submit':
      return submit(rest);
    case 'ctl':
      return runCtl(rest);
    case 'sim':
      return runSim(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`drover: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError || (err instanceof Error && err.name === 'TypeError' && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`drover: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`drover: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
