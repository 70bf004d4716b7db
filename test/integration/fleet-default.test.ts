/**
 * `drover up` on its embedded defaults (what `make up` runs): no credentials, so it rents from the
 * simulated marketplace's mixed default scenario; bad hosts fail with their class and are
 * replaced until the pool has its desired replicas, well within a minute; then tasks stream and
 * `drover ctl` sees the fleet.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { REPO_ROOT } from '../helpers/drover.js';
import { startDroverProcess, writeConfig, type DroverProcess } from '../helpers/drover-process.js';
import { TINY } from '../helpers/fleet.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

const run = promisify(execFile);
let proc: DroverProcess | undefined;
let dir = '';
afterAll(async () => {
  if (proc !== undefined && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('fleet - drover up on embedded defaults', () => {
  it('settles the mixed default fleet to its desired replicas in under a minute, then streams', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-default-'));
    // Only what a second Drover on this machine must change: data dir, random ports.
    proc = await startDroverProcess(await writeConfig(dir, {}));
    const p = proc;
    onTestFailed(() => {
      process.stderr.write(p.output().split('\n').slice(-80).join('\n'));
    });
    await expect
      .poll(async () => {
        const pools = (await getJson(`${p.httpUrl}/v2/pools`)).body?.pools as Array<{ pool_id: string; ready: number; desired: number }> | undefined;
        const pool = pools?.find((x) => x.pool_id === 'default');
        return pool !== undefined && pool.ready >= pool.desired && pool.desired === 2;
      }, { timeout: 60_000, interval: 250 })
      .toBe(true);

    const res = await postJson(`${p.httpUrl}/v2/tasks`, { model: TINY, prompt: 'Hello', max_tokens: 8 });
    expect(res.status).toBe(202);
    const { events } = await readSse(`${p.httpUrl}/v2/tasks/${String(res.body?.task_id)}/events`);
    expect(events.at(-1)?.event).toBe('end');

    // The operator sees the hosts (ready ones and the failed ones with their class) over NATS.
    const { stdout } = await run(join(REPO_ROOT, 'bin/drover'), ['ctl', 'hosts', 'ls', '--json', '--nats', p.natsUrl], { cwd: REPO_ROOT });
    const hosts = JSON.parse(stdout) as { hosts: Array<{ state: string; failure_class?: string }> };
    expect(hosts.hosts.filter((h) => h.state === 'ready').length).toBe(2);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 120_000);
});
