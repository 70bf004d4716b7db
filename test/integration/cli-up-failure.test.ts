/**
 * `drover up` when start-up or shutdown cannot finish:
 * - a top-level actor that gives up while Drover is still starting (here the API, whose port is
 *   taken) ends the process with exit code 70, one clear line on stderr and everything it had
 *   started stopped, instead of a crash in the shutdown path;
 * - a stop that cannot finish (the NATS server it drains into stopped answering) ends at
 *   `shutdown_timeout_ms` with exit code 1, or at once on a second signal (130).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedNats } from '../../src/transport/index.js';
import { REPO_ROOT } from '../helpers/drover.js';
import { startDroverProcess, writeConfig } from '../helpers/drover-process.js';

let dataDir: string;
let squatter: Server;
let port: number;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'drover-up-failure-'));
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  port = (squatter.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  await rm(dataDir, { recursive: true, force: true });
});

function runUp(configFile: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(join(REPO_ROOT, 'bin/drover'), ['up', '--config', configFile], { cwd: REPO_ROOT, timeout: 25_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

/** Command lines of live processes that name `text` (the embedded nats-server names its store dir). */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(cmdline.replaceAll('\0', ' '));
  }
  return found;
}

describe('drover up - a start-up that cannot finish', () => {
  it('exits 70 with the reason when the HTTP port is taken, leaving no nats-server behind', async () => {
    const configFile = await writeConfig(dataDir, {
      http: { host: '127.0.0.1', port },
      pools: [],
      sim: { engines: 1, ttft_ms: 0, tokens_per_s: 0, max_num_seqs: 4 },
      log_level: 'fatal',
    });
    const { code, stderr } = await runUp(configFile);
    expect(stderr).not.toMatch(/ReferenceError/);
    expect(stderr).toMatch(new RegExp(`drover: could not start: drover/api gave up: listen EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    expect(code).toBe(70);
    expect(await processesMentioning(dataDir)).toEqual([]);
  });
});

describe('drover up - a stop that cannot finish', () => {
  /** A running drover on an external nats-server that is then frozen (SIGSTOP), so its drain never ends. */
  async function droverWithFrozenNats(shutdownTimeoutMs: number) {
    const dir = await mkdtemp(join(tmpdir(), 'drover-frozen-nats-'));
    const nats = await startEmbeddedNats({ storeDir: join(dir, 'nats'), port: -1 });
    const configFile = await writeConfig(dir, {
      nats: { url: nats.url },
      pools: [],
      sim: { engines: 1, ttft_ms: 0, tokens_per_s: 0, max_num_seqs: 4 },
      shutdown_timeout_ms: shutdownTimeoutMs,
    });
    const drover = await startDroverProcess(configFile);
    const natsPid = Number((await readFile(join(dir, 'nats', 'nats-server.pid'), 'utf8')).trim());
    process.kill(natsPid, 'SIGSTOP');
    const cleanup = async (): Promise<void> => {
      process.kill(natsPid, 'SIGCONT');
      if (drover.child.exitCode === null) drover.child.kill('SIGKILL');
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    };
    return { drover, cleanup };
  }

  it('exits 1 at shutdown_timeout_ms when the stop waits on an unreachable NATS server', async () => {
    const { drover, cleanup } = await droverWithFrozenNats(1_000);
    try {
      drover.child.kill('SIGINT');
      expect(await drover.exited, drover.output()).toBe(1);
      expect(drover.output()).toContain('shutdown did not finish in time');
    } finally {
      await cleanup();
    }
  });

  it('exits 130 at once on a second signal of the other kind', async () => {
    const { drover, cleanup } = await droverWithFrozenNats(600_000);
    try {
      drover.child.kill('SIGINT');
      await expect.poll(() => drover.output().includes('shutting down'), { timeout: 10_000 }).toBe(true);
      drover.child.kill('SIGTERM');
      expect(await drover.exited, drover.output()).toBe(130);
      expect(drover.output()).toContain('second signal');
    } finally {
      await cleanup();
    }
  });
});
