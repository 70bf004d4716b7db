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
    expect(c.sim?.engines).toBe(2);
    expect(c.sim?.model).toBe('TinyLlama/TinyLlama-1.1B-Chat-v1.0');
    expect(c.nats.url).toBeUndefined();
  });

  it('layers file ← env ← flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cfg-'));
    const file = join(dir, 'drover.yaml');
    await writeFile(file, 'admission:\n  capacity: 5\nhttp:\n  port: 9000\nsim: null\n');
    const c = await loadConfig({ configFile: file, httpAddr: '0.0.0.0:7000' }, { DROVER_ADMISSION_POLICY: 'drop-lru', DROVER_API_TOKEN: 'tok' });
    expect(c.admission).toEqual({ capacity: 5, policy: 'drop-lru' });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 7000 });
    expect(c.sim).toBeNull();
    expect(c.api_token).toBe('tok');
    expect(JSON.stringify(redactConfig(c))).not.toContain('tok"');
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
