/**
 * `drover sim`: runs the simulated Vast.ai marketplace as its own process, so that a Drover
 * process can be killed and restarted against the same instances (reconciliation), or so a
 * developer can point VAST_API_URL at it.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_SCENARIO, loadScenario, startSimHost, startSimMarketplace } from '../sim/index.js';

/** Runs the marketplace until SIGINT/SIGTERM; resolves with the exit code. */
export async function runSim(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      scenario: { type: 'string' },
      'authorized-key': { type: 'string', multiple: true },
      'api-key': { type: 'string', default: 'sim-vast-key' },
      'time-scale': { type: 'string', default: '0.05' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  });
  const keys = await Promise.all((values['authorized-key'] ?? []).map(async (f) => (await readFile(f, 'utf8')).trim()));
  if (keys.length === 0) {
    process.stderr.write('drover sim: --authorized-key FILE.pub is required (the public half of VAST_SSH_KEY_PATH)\n');
    return 2;
  }
  const timeScale = Number(values['time-scale']);
  const port = Number(values.port);
  if (!(timeScale > 0) || !Number.isInteger(port)) {
    process.stderr.write('drover sim: --time-scale must be > 0 and --port an integer\n');
    return 2;
  }
  const log = pino({ level: values['log-level'] });
  const scenario = values.scenario === undefined ? DEFAULT_SCENARIO : await loadScenario(values.scenario);
  const market = await startSimMarketplace({
    scenario,
    apiKey: values['api-key'],
    hostFactory: startSimHost,
    authorizedKeys: keys,
    timeScale,
    port,
    logger: log,
  });
  log.info({ url: market.url, offers: scenario.offers.length }, 'sim marketplace started');
  // The ready line prints whatever the log level: scripts and tests wait for it.
  process.stdout.write(`sim marketplace ready: ${market.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await market.close();
  return 0;
}
