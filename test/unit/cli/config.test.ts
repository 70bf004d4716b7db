import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseAddr, redactConfig } from '../../../src/cli/config.js';

describe('config - layers and validation', () => {
  it('runs on embedded defaults with nothing given', async () => {
    const c = await loadConfig({}, {});
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.admission).toEqual({ capacity: 1024, policy: 'reject' });
    expect(c.sim).toBeNull();
    expect(c.pools).toEqual([expect.objectContaining({ kind: 'fleet', id: 'default', model: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', replicas: 2 })]);
    expect(c.fleet.strictness).toBe('strict');
    expect(c.nats.url).toBeUndefined();
  });

  it('layers file ← env ← flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cfg-'));
    const file = join(dir, 'drover.yaml');
    await writeFile(file, 'admission:\n  capacity: 5\nhttp:\n  port: 9000\nsim:\n  engines: 1\n');
    const c = await loadConfig({ configFile: file, httpAddr: '0.0.0.0:7000' }, { DROVER_ADMISSION_POLICY: 'drop-lru', DROVER_API_TOKEN: 'tok' });
    expect(c.admission).toEqual({ capacity: 5, policy: 'drop-lru' });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 7000 });
    expect(c.sim?.engines).toBe(1);
    expect(c.api_token).toBe('tok');
    expect(JSON.stringify(redactConfig(c))).not.toContain('tok"');
    const withSecrets = await loadConfig({}, { VAST_API_KEY: 'vast-secret' });
    const secretPool = { ...withSecrets, pools: withSecrets.pools.map((p) => (p.kind === 'fleet' ? { ...p, launch: { ...p.launch, env: { HF_TOKEN: 'hf_secret' } } } : p)) };
    const printed = JSON.stringify(redactConfig(secretPool));
    expect(printed).not.toContain('vast-secret');
    expect(printed).not.toContain('hf_secret');
    expect(printed).toContain('HF_TOKEN');
  });

  it('reports bad values with their path', async () => {
    await expect(loadConfig({}, { DROVER_ADMISSION_POLICY: 'fifo' })).rejects.toThrow(/admission\.policy/);
    await expect(loadConfig({}, { DROVER_ADMISSION_CAPACITY: '-3' })).rejects.toBeInstanceOf(ConfigError);
    await expect(loadConfig({ configFile: '/nonexistent/drover.yaml' }, {})).rejects.toThrow(/cannot read config file/);
    expect(() => parseAddr('nope')).toThrow(ConfigError);
    expect(parseAddr('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseAddr(':8081')).toEqual({ host: '127.0.0.1', port: 8081 });
  });
});
