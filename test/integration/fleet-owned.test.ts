/**
 * Hosts you own: a fleet file lists SSH hosts; Drover starts the engine on one over SSH (the
 * StaticProvider's create), proves it ready through the same staged probes as a rented host, and
 * streams from it. The "owned host" is a simulated host with no onstart, so the engine only starts
 * when Drover's launch command arrives over SSH.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimHost, type SimHost } from '../../src/sim/index.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { hostRecords, poolView, TINY } from '../helpers/fleet.js';
import { postJson, readSse } from '../helpers/sse.js';
import { generateSshKeyPair } from '../../src/probes/index.js';

let host: SimHost | undefined;
let drover: TestDrover | undefined;
let dir = '';
afterAll(async () => {
  await drover?.close();
  await host?.close();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('fleet - hosts you own, from a fleet file', () => {
  it('launches the engine over SSH, proves the host ready and streams from it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-owned-'));
    const keys = generateSshKeyPair();
    await writeFile(join(dir, 'id_ed25519'), keys.private, { mode: 0o600 });
    host = await startSimHost({ instance_id: 'box-1', profile: 'healthy', gpu_name: 'RTX 4090', gpu_ram_mb: 24_564, onstart: '', env: {}, authorizedKeys: [keys.public], timeScale: 0.02 });
    // A box in a fleet file is up: its sshd listens before Drover's first launch (a box that is
    // down at launch is excluded for 10 minutes, longer than this test).
    const box = host;
    await expect.poll(() => box.status().actual_status, { timeout: 10_000, interval: 20 }).toBe('running');
    const fleetFile = join(dir, 'fleet.yaml');
    await writeFile(fleetFile, `hosts:\n  - { id: box-1, ssh: { host: 127.0.0.1, port: ${host.sshPort}, user: root }, gpu_name: RTX 4090, gpu_ram_mb: 24564 }\n`);
    drover = await startTestDrover(
      {
        sim: null,
        // The owned box serves its engine on its own port (here the simulated host's).
        pools: [{ kind: 'fleet', id: 'own', model: TINY, replicas: 1, slots_per_replica: 4, launch: { port: host.enginePort } } as never],
        fleet: { fleet_file: fleetFile, vast_ssh_key_path: join(dir, 'id_ed25519'), probe_interval_ms: 100, strictness: 'strict' } as never,
      },
      undefined,
      { waitReady: false },
    );
    const d = drover;
    expect(d.fleet?.mode).toBe('static');
    await expect.poll(async () => (await poolView(d, 'own'))?.ready, { timeout: 30_000, interval: 100 }).toBe(1);
    // Drover's launch set the engine's keep-alive (the shim passed it on to the simulated vLLM).
    expect((await fetch(`http://127.0.0.1:${host.enginePort}/health`)).headers.get('keep-alive')).toBe('timeout=60');
    const [record] = await hostRecords(d);
    expect(record).toMatchObject({ provider: 'static', provider_host_id: 'box-1', state: 'ready', instance_id: 'static-box-1' });
    const res = await postJson(`${d.httpUrl}/v2/tasks`, { model: TINY, prompt: 'on my own GPU', max_tokens: 5 });
    expect(res.status).toBe(202);
    const { events } = await readSse(`${d.httpUrl}/v2/tasks/${String(res.body?.task_id)}/events`);
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'token', 'token', 'token', 'end']);
  });
});
