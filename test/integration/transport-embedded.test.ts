import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTransport, NATS_SERVER_MISSING_MESSAGE, startEmbeddedNats, type EmbeddedNats } from '../../src/transport/index.js';
import { captureLogs, printServerOutputOnFailure, waitForReconnect } from '../helpers/nats-server.js';

const REPO_NATS_CONF = fileURLToPath(new URL('../../nats.conf', import.meta.url));

let current: EmbeddedNats | undefined;
let storeDir: string;
let privateTmp: string;
const savedTmp = process.env['TMPDIR'];
printServerOutputOnFailure(() => current);

beforeAll(async () => {
  // A temp dir of this file's own (test files run in parallel), so the ports dirs can be counted.
  privateTmp = await mkdtemp(join(tmpdir(), 'drover-embedded-tmp-'));
  process.env['TMPDIR'] = privateTmp;
  storeDir = await mkdtemp(join(tmpdir(), 'drover-embedded-test-'));
});

afterAll(async () => {
  await current?.stop();
  if (savedTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmp;
  await rm(privateTmp, { recursive: true, force: true });
});

/** Lists the launcher's ports dirs (each start makes one, each stop removes it). */
async function portsDirs(): Promise<string[]> {
  return (await readdir(privateTmp)).filter((n) => n.startsWith('drover-nats-ports-'));
}

describe('transport embedded nats-server', () => {
  it("starts with the repo's nats.conf (port overridden), serves JetStream, restarts on the same port with its data", async () => {
    const server = await startEmbeddedNats({ configFile: REPO_NATS_CONF, storeDir, port: -1, httpPort: -1 });
    current = server;
    expect(await portsDirs()).toHaveLength(1);
    expect(server.port).toBeGreaterThan(0);
    expect(server.port).not.toBe(24222);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.output()).toContain('Using configuration file');
    expect(server.output()).toContain('Server is ready');

    const { logger } = captureLogs();
    const t = await connectTransport({ url: server.url, name: 'embedded-test', logger });
    try {
      const kv = await t.kv('test_embedded', z.object({ v: z.number() }));
      await kv.put('k', { v: 1 });
      const port = server.port;
      await server.restart();
      expect(server.port).toBe(port);
      await waitForReconnect(() => t.bus.flush());
      await expect(kv.get('k')).resolves.toMatchObject({ value: { v: 1 } });
    } finally {
      await t.close();
    }

    await server.stop();
    current = undefined;
    expect(existsSync(storeDir)).toBe(true); // the caller owns the store
    expect(existsSync(join(storeDir, 'jetstream'))).toBe(true);
    expect(await portsDirs()).toEqual([]);
    await server.stop(); // idempotent
  });

  it('says how to install nats-server when the binary is missing', async () => {
    await expect(startEmbeddedNats({ storeDir, port: -1, binary: '/nonexistent/nats-server' })).rejects.toThrow(NATS_SERVER_MISSING_MESSAGE);
    expect(NATS_SERVER_MISSING_MESSAGE).toBe(
      "nats-server is not installed: run 'sudo apt-get install -y nats-server' (or 'make deps'), or set DROVER_NATS_URL to use an existing server",
    );
  });

  it('fails with the server output when it exits during start-up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-embedded-bad-'));
    try {
      const conf = join(dir, 'bad.conf');
      await writeFile(conf, 'listen: 127.0.0.1:-1\nthis is { not a valid config\n');
      const err = await startEmbeddedNats({ configFile: conf, storeDir, port: -1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^nats-server exited with code \d+ before it was ready/);
      expect((err as Error).message).toContain('Parse error');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
