import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCtl } from '../../src/cli/ctl.js';
import { ErrorEnvelopeSchema } from '../../src/protocols/index.js';
import {
  BlacklistAddReplySchema,
  BlacklistListReplySchema,
  BlacklistRemovedReplySchema,
  HostsListReplySchema,
  HostsShowReplySchema,
  PoolUpdateReplySchema,
  StrictnessReplySchema,
} from '../../src/protocols/index.js';
import { connectTransport, type ServiceHandle, type Transport } from '../../src/transport/index.js';
import { FAILED_HOST, openOpsStores, resetOps, startTestOpsService, type OpsStores } from '../helpers/ops-fixtures.js';
import { captureLogs, useNatsServer } from '../helpers/nats-server.js';

const DROVER = resolve(fileURLToPath(import.meta.url), '../../../bin/drover');

const server = useNatsServer();
let transport: Transport;
let stores: OpsStores;
let ops: ServiceHandle;
const logs = captureLogs();

/** What one ctl run printed and how it exited. */
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment without the caller's Drover settings, so the runs only see what a test gives. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['DROVER_NATS_URL', 'DROVER_OPERATOR', 'DROVER_LOG_LEVEL'] as const) if (extra[k] === undefined) delete env[k];
  return env;
}

/** Runs `bin/drover ctl ARGS` as a child process, against the test server unless `nats` is false. */
function spawnCtl(args: string[], opts: { env?: Record<string, string>; nats?: boolean } = {}): Promise<Run> {
  const argv = ['ctl', ...args, ...(opts.nats === false ? [] : ['--nats', server().url])];
  const child = spawn(DROVER, argv, { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Runs `runCtl` in this process (same code path, without the start-up cost of a child). */
async function ctl(args: string[], opts: { nats?: boolean } = {}): Promise<Run> {
  const run: Run = { code: null, stdout: '', stderr: '' };
  run.code = await runCtl([...args, ...(opts.nats === false ? [] : ['--nats', server().url])], {
    out: { write: (s: string) => (run.stdout += s) },
    err: { write: (s: string) => (run.stderr += s) },
    env: cleanEnv(),
  });
  return run;
}

/** Parses the JSON a successful `--json` run printed. */
function json(run: Run): unknown {
  expect(run.stderr, run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as unknown;
}

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'ctl-test', logger: logs.logger });
  stores = await openOpsStores(transport);
  ops = await startTestOpsService(transport, stores, logs.logger);
});

afterAll(async () => {
  await ops?.stop();
  await transport?.close();
});

beforeEach(async () => {
  await resetOps(stores);
});

describe('drover ctl - bin/drover as a child process', () => {
  it('lists and shows seeded hosts; an unknown host exits 1 with NOT_FOUND', async () => {
    const [all, shown, missing] = await Promise.all([
      spawnCtl(['hosts', 'ls', '--json']),
      spawnCtl(['hosts', 'show', 'h-failed', '--json']),
      spawnCtl(['hosts', 'show', 'h-nope']),
    ]);
    expect(HostsListReplySchema.parse(json(all)).hosts.map((h) => h.host_id)).toEqual(['h-ready', 'h-failed']);
    expect(HostsShowReplySchema.parse(json(shown)).host).toEqual(FAILED_HOST);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'NOT_FOUND: no host h-nope\n' });
  });

  it('adds, lists and removes a blacklist entry', async () => {
    const added = BlacklistAddReplySchema.parse(json(await spawnCtl(['blacklist', 'add', '444', '--reason', 'flaky NIC', '--operator', 'alice', '--json'])));
    expect(added).toMatchObject({ created: true, entry: { key: 'operator.444', by: 'alice', reason: 'flaky NIC', scope: 'operator' } });
    const listed = BlacklistListReplySchema.parse(json(await spawnCtl(['blacklist', 'ls', '--json'])));
    expect(listed.entries.map((e) => e.key)).toEqual(['global.222', 'operator.444', 'workload.333.vllm_tiny']);
    const removed = BlacklistRemovedReplySchema.parse(json(await spawnCtl(['blacklist', 'rm', '444', '--json'])));
    expect(removed).toMatchObject({ removed: [{ key: 'operator.444' }], kept: 0 });
    await expect(stores.blacklist.get('operator.444')).resolves.toBeUndefined();
  });

  it('sets and gets the strictness (finding NATS through DROVER_NATS_URL)', async () => {
    const set = StrictnessReplySchema.parse(json(await spawnCtl(['strictness', 'set', 'balanced', '--json'], { env: { DROVER_OPERATOR: 'dave' } })));
    expect(set).toMatchObject({ strictness: 'balanced', previous: 'strict', source: 'kv', updated_by: 'dave' });
    const got = StrictnessReplySchema.parse(json(await spawnCtl(['strictness', 'get', '--json'], { nats: false, env: { DROVER_NATS_URL: server().url } })));
    expect(got).toMatchObject({ strictness: 'balanced', source: 'kv', updated_by: 'dave' });
  });

  it('scales a pool; a usage error exits 2 before connecting', async () => {
    const [scaled, usage] = await Promise.all([spawnCtl(['pools', 'scale', 'alpha', '3', '--json']), spawnCtl(['pools', 'scale', 'alpha', 'many'])]);
    const reply = PoolUpdateReplySchema.parse(json(scaled));
    expect(reply.pool).toMatchObject({ pool_id: 'alpha', desired_replicas: 3 });
    await expect(stores.pools.get('alpha')).resolves.toMatchObject({ value: { desired_replicas: 3 }, revision: reply.revision });
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(usage.stderr).toMatch(/^drover ctl: pools scale: N must be a whole number >= 0, got "many"\nusage:/);
  });
});

describe('drover ctl - readable output', () => {
  it('prints hosts as a table and one host with evidence and transitions', async () => {
    const table = await ctl(['hosts', 'ls']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HOST\s+POOL\s+STATE\s+STAGE\s+PROVIDER HOST/);
    expect(lines[1]).toMatch(/^h-ready\s+alpha\s+ready\s+-\s+vast:111\s+RTX 4090\s+no\s+/);
    expect(lines[2]).toMatch(/^h-failed\s+beta\s+failed\s+gpu\s+vast:222\s+-\s+yes\s+.*INFRA_FATAL: GPU has fallen off the bus$/);

    const show = await ctl(['hosts', 'show', 'h-failed']);
    expect(show.stdout).toMatch(/^failure\s+INFRA_FATAL at gpu: GPU has fallen off the bus$/m);
    expect(show.stdout).toContain('evidence:\n  Unable to determine the device handle for GPU0000:01:00.0: Unknown Error\n');
    expect(show.stdout).toMatch(/transitions:\n {2}.* provisioning -> booting {2}instance running\n {2}.* booting -> failed \(gpu\) {2}GPU has fallen off the bus \[INFRA_FATAL\]\n/);
    expect(show.stdout).toMatch(/blacklist:\n {2}global\.222 \(global\) by pool:beta/);
  });

  it('prints blacklist, pool and strictness changes in a line', async () => {
    expect((await ctl(['blacklist', 'add', '444', '--reason', 'flaky NIC'])).stdout).toBe('blacklisted host 444 (operator.444) by operator: flaky NIC\n');
    expect((await ctl(['blacklist', 'ls', '--scope', 'operator'])).stdout).toMatch(/^HOST\s+SCOPE\s+WORKLOAD\s+BY\s+AT\s+REASON\n444\s+operator\s+-\s+operator\s+.+\s+flaky NIC\n$/);
    expect((await ctl(['blacklist', 'clear'])).stdout).toMatch(/^removed 2 entries, 1 kept:\nHOST/);
    expect((await ctl(['pools', 'drain', 'alpha'])).stdout).toMatch(/^pool alpha: draining \(desired replicas 2, revision \d+\)\n$/);
    expect((await ctl(['pools', 'scale', 'alpha', '4'])).stdout).toMatch(/^pool alpha: desired replicas 2 -> 4, drain ended \(revision \d+\)\n$/);
    expect((await ctl(['pools', 'ls'])).stdout).toMatch(/^POOL\s+ENGINE\s+DESIRED\s+DRAINING.*\nalpha\s+vllm\s+4\s+no\s+operator\s+/);
    expect((await ctl(['strictness', 'get'])).stdout).toBe('strictness: strict (default; never set)\n');
    expect((await ctl(['strictness', 'set', 'aggressive'])).stdout).toMatch(/^strictness: strict -> aggressive \(set by operator at .+Z\)\n$/);
  });

  it('prints an error reply as CODE: message (and as JSON with --json), exit 1', async () => {
    await expect(ctl(['pools', 'scale', 'nope', '1'])).resolves.toEqual({ code: 1, stdout: '', stderr: 'NOT_FOUND: no pool nope\n' });
    const invalid = await ctl(['pools', 'scale', 'alpha', '5000', '--json']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^INVALID_PARAMS: replicas: /);
    expect(ErrorEnvelopeSchema.parse((JSON.parse(invalid.stdout) as { error: unknown }).error).code).toBe('INVALID_PARAMS');
  });
});

describe('drover ctl - usage and connection errors', () => {
  it('exits 2 on usage errors without touching NATS', async () => {
    const cases: string[][] = [
      ['pools', 'scale', 'alpha', '-1'],
      ['bogus', 'verb'],
      ['blacklist', 'add', '444'],
      ['strictness', 'set', 'lax'],
      ['hosts', 'ls', '--reason', 'x'],
      ['hosts', 'ls', '--state', 'sleeping'],
      ['hosts', 'show'],
      ['pools', 'ls', '--timeout', 'soon'],
    ];
    for (const args of cases) {
      const run = await ctl(args, { nats: false });
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^drover ctl: .+\nusage:/);
    }
    expect((await ctl([], { nats: false })).code).toBe(2);
    expect((await ctl(['help'], { nats: false })).code).toBe(0);
  });

  it('exits 1 when NATS cannot be reached, or nothing answers', async () => {
    const refused = await ctl(['pools', 'ls', '--nats', 'nats://127.0.0.1:1'], { nats: false });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^drover ctl: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /);

    await ops.stop();
    try {
      const nobody = await ctl(['pools', 'ls']);
      expect(nobody).toMatchObject({ code: 1, stderr: `POOL_UNAVAILABLE: no drover-ops service answers at ${server().url} (is a Drover process connected?)\n` });
    } finally {
      ops = await startTestOpsService(transport, stores, logs.logger);
    }
  });
});
