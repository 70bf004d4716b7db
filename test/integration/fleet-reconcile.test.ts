/**
 * Reconciliation: Drover killed with SIGKILL while renting hosts, then restarted on the same data
 * dir against the same (simulated) marketplace, adopts the instances it has records for, destroys
 * labelled instances it has no record for, and never leaks a paid instance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { pino } from 'pino';
import { LaunchSpecSchema } from '../../src/protocols/index.js';
import { VastProvider } from '../../src/providers/index.js';
import { REPO_ROOT } from '../helpers/drover.js';
import { startDroverProcess, writeConfig, type DroverProcess } from '../helpers/drover-process.js';
import { offer, scenarioFile, TINY } from '../helpers/fleet.js';
import { getJson } from '../helpers/sse.js';
import { generateSshKeyPair } from '../../src/probes/index.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Starts `drover sim` and resolves with its URL. */
async function startMarketplace(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(join(REPO_ROOT, 'bin/drover'), ['sim', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /sim marketplace ready: (\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => reject(new Error(`drover sim exited (${String(code)}):\n${out}`)));
  });
  return { child, url };
}

describe('fleet - reconciliation after SIGKILL', () => {
  it('adopts recorded instances, destroys unknown labelled ones, and leaks nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-reconcile-'));
    dirs.push(dir);
    const keys = generateSshKeyPair();
    await writeFile(join(dir, 'id_ed25519'), keys.private, { mode: 0o600 });
    await writeFile(join(dir, 'id_ed25519.pub'), keys.public);
    const scenario = await scenarioFile([offer(1, 'healthy', 0.2), offer(2, 'healthy', 0.25), offer(3, 'healthy', 0.3), offer(4, 'healthy', 0.35)]);
    // Slow enough provisioning that the kill lands while hosts are being rented and booted.
    const market = await startMarketplace(['--authorized-key', join(dir, 'id_ed25519.pub'), '--scenario', scenario, '--time-scale', '0.2', '--log-level', 'warn']);
    const vast = new VastProvider({ apiUrl: market.url, apiKey: 'sim-vast-key', logger: pino({ level: 'silent' }) });

    const config = await writeConfig(dir, {
      sim: null,
      log_level: 'info',
      pools: [{ kind: 'fleet', id: 'gpu', model: TINY, replicas: 2, slots_per_replica: 4 }],
      fleet: { vast_api_url: market.url, vast_ssh_key_path: join(dir, 'id_ed25519'), probe_interval_ms: 200, strictness: 'aggressive' },
    });
    const env = { VAST_API_KEY: 'sim-vast-key' };
    const first: DroverProcess = await startDroverProcess(config, env);
    children.push(first.child);
    const later: { second?: DroverProcess } = {};
    onTestFailed(() => {
      const tail = (s: string) => s.split('\n').slice(-60).join('\n');
      process.stderr.write(`--- first drover:\n${tail(first.output())}\n--- second drover:\n${tail(later.second?.output() ?? '')}\n`);
    });
    // Kill as soon as the first instance exists: mid-provisioning.
    await expect.poll(async () => (await vast.listByLabel('drover/')).length, { timeout: 20_000, interval: 50 }).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const beforeRestart = await vast.listByLabel('drover/');
    expect(beforeRestart.length).toBeGreaterThan(0);

    // An instance labelled as ours that no record knows about (e.g. created just before a crash).
    const nodeId = (await readFile(join(dir, 'node-id'), 'utf8')).trim();
    const [spare] = (await vast.searchOffers({ num_gpus: 1 })).filter((o) => !beforeRestart.some((i) => i.provider_host_id === o.provider_host_id));
    expect(spare).toBeDefined();
    const orphan = await vast.create(spare!, LaunchSpecSchema.parse({}), `drover/${nodeId}/gpu/horphan00`, TINY);

    const second = await startDroverProcess(config, env);
    later.second = second;
    children.push(second.child);
    const restarted = second;
    await expect
      .poll(async () => {
        const pools = (await getJson(`${restarted.httpUrl}/v2/pools`)).body?.pools as Array<{ pool_id: string; ready: number }> | undefined;
        return pools?.find((p) => p.pool_id === 'gpu')?.ready;
      }, { timeout: 90_000, interval: 200 })
      .toBe(2);

    const live = await vast.listByLabel('drover/');
    // The orphan was destroyed; nothing beyond the two ready hosts is paid for.
    expect(live.map((i) => i.instance_id)).not.toContain(orphan.instance_id);
    expect(live).toHaveLength(2);
    // Every instance rented before the kill was either adopted or destroyed, never left behind.
    const adopted = beforeRestart.filter((i) => live.some((l) => l.instance_id === i.instance_id));
    expect(adopted.length + (beforeRestart.length - adopted.length)).toBe(beforeRestart.length);
    expect(second.output()).toMatch(/adopting an instance from before the restart|destroying a labelled instance/);
    expect(second.output()).toMatch(/destroying a labelled instance with no live record/);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    market.child.kill('SIGTERM');
  }, 150_000);
});
