/**
 * Starts a whole Drover process in the test process: embedded nats-server on a random port, HTTP
 * on a random port, simulated engines, a temp data dir. `DROVER_TEST_LOG=debug` shows its logs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DroverConfigSchema, type DroverConfigInput } from '../../src/protocols/index.js';
import { mergeLayers } from '../../src/cli/config.js';
import { startDrover, type DroverHandle } from '../../src/cli/start.js';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

export interface TestDrover extends DroverHandle {
  dataDir: string;
  /** Stops Drover; removes the data dir unless `keepData`. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** Config for tests: random ports, fast simulated engines, silent logs. */
export function testConfig(dataDir: string, over: DroverConfigInput = {}) {
  const base: DroverConfigInput = {
    data_dir: dataDir,
    http: { host: '127.0.0.1', port: 0 },
    nats: { port: -1, config_file: null },
    pools: [],
    sim: { engines: 2, ttft_ms: 2, tokens_per_s: 0, max_num_seqs: 8 },
    log_level: 'silent',
  };
  return DroverConfigSchema.parse(mergeLayers(base as Record<string, unknown>, over as Record<string, unknown>));
}

/** Starts Drover for a test; pass `dataDir` to restart on an existing store. */
export async function startTestDrover(over: DroverConfigInput = {}, dataDir?: string, opts: { waitReady?: boolean } = {}): Promise<TestDrover> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'drover-test-')));
  const config = testConfig(dir, over);
  const logger = pino({ level: process.env.DROVER_TEST_LOG ?? 'silent' });
  const handle = await startDrover(config, { logger, root: REPO_ROOT });
  // Tests start from a known state: every replica ready (fleet tests watch the pool themselves).
  const deadline = Date.now() + 10_000;
  for (; opts.waitReady !== false; ) {
    const pools = await handle.actors.gateway.pools();
    if (pools.every((p) => p.replicas.length > 0 && p.replicas.every((r) => r.health === 'ready'))) break;
    if (Date.now() > deadline) throw new Error(`replicas not ready: ${JSON.stringify(pools)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    ...handle,
    dataDir: dir,
    async close(opts = {}) {
      await handle.stop();
      if (opts.keepData !== true) await rm(dir, { recursive: true, force: true });
    },
  };
}
