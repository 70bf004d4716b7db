import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2, { type Client, type ExecOptions } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_PROFILE_DOCS, startSimHost } from '../../src/sim/host.js';
import { parseOnstart } from '../../src/sim/host-launch.js';
import { rewriteCommand } from '../../src/sim/host-ssh.js';
import { HOST_PROFILES, type SimHost, type SimHostSpec } from '../../src/sim/host-types.js';
import { waitFor } from '../helpers/wait-for.js';
import { generateSshKeyPair } from '../../src/probes/index.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const KEY = generateSshKeyPair();
const OTHER_KEY = generateSshKeyPair();
const MODEL = 'Qwen/Qwen2.5-1.5B-Instruct';
const H100 = { gpu_name: 'NVIDIA H100 80GB HBM3', gpu_ram_mb: 81559 };
const ENGINE_PATTERN = `ps -eo pid,args | grep -E 'vllm|api_server' | grep -v grep`;

const hosts: SimHost[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.end();
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

function onstart(model: string, extra = ''): string {
  return `#!/bin/bash\nnohup vllm serve ${model} --port 8000 ${extra} > /tmp/vllm.log 2>&1 &\n`;
}

async function host(overrides: Partial<SimHostSpec> = {}): Promise<SimHost> {
  const h = await startSimHost({
    instance_id: `i-${hosts.length + 1}`,
    profile: 'healthy',
    ...H100,
    onstart: onstart(MODEL, '--max-model-len 4096'),
    env: { HF_TOKEN: 'hf_test', '-p 8000:8000': '1' },
    authorizedKeys: [KEY.public],
    timeScale: 0.01,
    ...overrides,
  });
  hosts.push(h);
  return h;
}

async function connect(h: SimHost, opts: Partial<ssh2.ConnectConfig> = {}): Promise<Client> {
  const client = new ssh2.Client();
  clients.push(client);
  // Later errors of a client whose first error already rejected (e.g. a lost connection) are expected.
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port: h.sshPort, username: 'root', privateKey: KEY.private, readyTimeout: 5_000, ...opts });
  });
  return client;
}

/** Connects once the container runs and its sshd answers. */
async function sshUp(h: SimHost): Promise<Client> {
  await waitFor('container running', () => h.status().actual_status === 'running', 10_000);
  let client: Client | undefined;
  await waitFor('ssh login', async () => {
    client = await connect(h).catch(() => undefined);
    return client !== undefined;
  }, 5_000, 20);
  return client!;
}

interface Run { code: number | null | undefined; signal: string | undefined; stdout: string; stderr: string }

async function run(client: Client, command: string, opts: ExecOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    client.exec(command, opts, (err, ch) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      ch.on('data', (d: Buffer) => out.push(d));
      ch.stderr.on('data', (d: Buffer) => errs.push(d));
      ch.on('close', (code: number | null | undefined, signal: string | undefined) =>
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(errs).toString() }));
    });
  });
}

async function health(port: number): Promise<number | 'refused'> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/health`)).status;
  } catch {
    return 'refused';
  }
}

async function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

const log = async (client: Client): Promise<string> => (await run(client, 'cat /tmp/vllm.log')).stdout;
const fixture = async (name: string): Promise<string> => readFile(join(FIXTURES, name), 'utf8');
const nap = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('sim host', () => {
  it('sim host - healthy boots to a listening engine (curl over SSH on :8000); /tmp/vllm.log has the startup lines in order', async () => {
    const h = await host();
    expect(h.status()).toEqual({ actual_status: 'loading', status_msg: 'loading: pulling image…' });
    expect(await refuses(h.enginePort)).toBe(true);
    const client = await sshUp(h);
    expect(h.status().status_msg).toBe('success, running vllm/vllm-openai/ssh');
    await waitFor('/health 200 over ssh', async () =>
      (await run(client, `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health || true`)).stdout === '200', 10_000, 20);
    expect(await health(h.enginePort)).toBe(200);
    const models = await run(client, 'curl -fsS localhost:8000/v1/models');
    expect(JSON.parse(models.stdout)).toMatchObject({ data: [{ id: MODEL, max_model_len: 4096 }] });
    const text = await log(client);
    const order = [
      'Automatically detected platform cuda.', 'vLLM API server version 0.11.0', `non-default args: {'model_tag': '${MODEL}'`,
      'Using max model len 4096', `Starting to load model ${MODEL}...`, 'model.safetensors:', 'Loading weights took',
      'torch.compile takes', 'Available KV cache memory', 'GPU KV cache size', 'Capturing CUDA graphs',
      'Starting vLLM API server 0 on http://0.0.0.0:8000', 'Available routes are:', 'Route: /health, Methods: GET',
      'Started server process [1]', 'Waiting for application startup.', 'Application startup complete.',
    ];
    const at = order.map((marker) => text.indexOf(marker));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text.trimEnd().split('\n').at(-1)).toBe('(APIServer pid=1) INFO:     Application startup complete.');
    // Timestamps are the time of writing (UTC), not the fixture's.
    expect(text.split('\n')[0]).toMatch(/^INFO \d\d-\d\d \d\d:\d\d:\d\d \[__init__\.py:216\] Automatically detected platform cuda\.$/);
    expect(text).not.toContain('10-21 09:1');
  });

  it('sim host - nvidia-smi prints the query row of the host GPU and the default table', async () => {
    const a = await host();
    const b = await host({ gpu_name: 'NVIDIA GeForce RTX 4090', gpu_ram_mb: 24564, onstart: '' });
    const [ca, cb] = await Promise.all([sshUp(a), sshUp(b)]);
    const query = 'nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu,temperature.gpu --format=csv,noheader,nounits';
    expect(await run(cb, query)).toMatchObject({ code: 0, stdout: 'NVIDIA GeForce RTX 4090, 24564, 0, 0, 31\n' });
    expect((await fixture('nvidia_smi_query_ok.txt')).trimEnd()).toMatch(/^NVIDIA H100 80GB HBM3, 81559, \d+, 0, 31$/);
    await waitFor('engine listening', async () => (await health(a.enginePort)) === 200, 10_000, 10);
    expect((await run(ca, query)).stdout).toMatch(/^NVIDIA H100 80GB HBM3, 81559, 73403, 0, 31\n$/);
    expect((await run(cb, 'nvidia-smi --query-gpu=name,memory.total --format=csv')).stdout).toBe('name, memory.total [MiB]\nNVIDIA GeForce RTX 4090, 24564 MiB\n');
    const table = await run(cb, 'nvidia-smi');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('NVIDIA GeForce RTX 4090');
    expect(table.stdout).toContain('0MiB /  24564MiB');
  });

  it('sim host - gpu_fallen_off and nvml_mismatch: nvidia-smi failure texts and exit codes, vLLM dies, no port', async () => {
    const fallen = await host({ profile: 'gpu_fallen_off' });
    const nvml = await host({ profile: 'nvml_mismatch' });
    const [cf, cn] = await Promise.all([sshUp(fallen), sshUp(nvml)]);
    expect(await run(cf, 'nvidia-smi --query-gpu=name --format=csv,noheader')).toEqual({
      code: 15, signal: undefined, stdout: `${(await fixture('nvidia_smi_fail_handle.txt')).trimEnd()}\n`, stderr: '',
    });
    expect(await run(cn, 'nvidia-smi')).toEqual({
      code: 18, signal: undefined, stdout: `${(await fixture('nvidia_smi_fail_nvml.txt')).trimEnd()}\n`, stderr: '',
    });
    await waitFor('CUDA error in the log', async () => (await log(cf)).includes('RuntimeError: No CUDA GPUs are available'), 10_000, 20);
    await waitFor('no-platform failure in the log', async () => (await log(cn)).includes('RuntimeError: Failed to infer device type'), 10_000, 20);
    expect((await log(cn)).split('\n')[0]).toContain('No platform detected, vLLM is running on UnspecifiedPlatform');
    expect((await log(cf)).trimEnd().split('\n').at(-1)).toContain('RuntimeError: Engine core initialization failed.');
    for (const [h, c] of [[fallen, cf], [nvml, cn]] as const) {
      expect((await run(c, ENGINE_PATTERN)).code).toBe(1);
      expect(await refuses(h.enginePort)).toBe(true);
    }
  });

  it('sim host - ps shows the engine only while alive; dies_while_serving stops answering', async () => {
    const h = await host({ profile: 'dies_while_serving', timeScale: 0.03 });
    const client = await sshUp(h);
    const alive = await run(client, ENGINE_PATTERN);
    expect(alive.code).toBe(0);
    expect(alive.stdout).toMatch(/^1 \/usr\/bin\/python3 \/usr\/local\/bin\/vllm serve Qwen\/Qwen2\.5-1\.5B-Instruct --port 8000 --max-model-len 4096\n$/);
    expect((await run(client, 'pgrep -f vllm')).stdout).toBe('1\n');
    expect((await run(client, 'ps aux')).stdout).toMatch(/^USER +PID .*COMMAND\nroot +1 .*\/vllm serve /);
    await waitFor('engine serving', async () => (await health(h.enginePort)) === 200, 10_000, 10);
    await waitFor('engine gone', async () => (await health(h.enginePort)) === 'refused', 10_000, 10);
    const text = await log(client);
    expect(text).toContain('vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause.');
    await waitFor('process gone from ps', async () => (await run(client, ENGINE_PATTERN)).code === 1, 5_000, 20);
    expect((await run(client, 'pgrep -f vllm')).code).toBe(1);
    expect((await run(client, 'ps -ef')).stdout).toBe('UID          PID    PPID  C STIME TTY          TIME CMD\n');
  });

  it('sim host - ssh_never accepts TCP but the handshake never completes', async () => {
    const h = await host({ profile: 'ssh_never' });
    await waitFor('container running', () => h.status().actual_status === 'running', 10_000);
    await waitFor('port accepting', async () => !(await refuses(h.sshPort)), 5_000, 10);
    await expect(connect(h, { readyTimeout: 400 })).rejects.toThrow(/Timed out while waiting for handshake/);
  });

  it('sim host - an SSH port taken before the container starts: the container exits saying why, never running', async () => {
    const h = await host({ timeScale: 0.05 });
    // Another process binds the port the host reserved, before its container starts (300 ms).
    const squatter = createServer();
    await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen(h.sshPort, '127.0.0.1', () => resolve()));
    try {
      const seen = new Set<string>();
      await waitFor('container exited', () => {
        const st = h.status().actual_status;
        seen.add(st);
        return st === 'exited';
      }, 10_000, 5);
      expect(h.status().status_msg).toMatch(/^container exited: sshd could not listen: .*EADDRINUSE/);
      expect([...seen]).not.toContain('running');
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it('sim host - container_fail exits with the OCI error and SSH never answers', async () => {
    const h = await host({ profile: 'container_fail' });
    expect(h.status().actual_status).toBe('loading');
    await waitFor('container exited', () => h.status().actual_status === 'exited', 10_000);
    expect(h.status().status_msg).toMatch(/^Error response from daemon: failed to create task for container: .*OCI runtime create failed: .*nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown$/);
    expect(await refuses(h.sshPort)).toBe(true);
    expect(await refuses(h.enginePort)).toBe(true);
  });

  it('sim host - hangs: the log stops growing, the port never listens, the process stays in ps', async () => {
    const h = await host({ profile: 'hangs' });
    const client = await sshUp(h);
    await waitFor('first lines', async () => (await log(client)).includes('Using model weights format'), 10_000, 20);
    const before = await log(client);
    // A healthy boot at this timeScale completes in ~0.4 s; give it 2.5× that to prove nothing moves.
    await nap(1_000);
    expect(await log(client)).toBe(before);
    expect(before).not.toContain('Application startup complete.');
    expect(await refuses(h.enginePort)).toBe(true);
    expect((await run(client, ENGINE_PATTERN)).code).toBe(0);
  });

  it('sim host - slow_warmup keeps writing lines and gets ready later', async () => {
    const slow = await host({ profile: 'slow_warmup' });
    const client = await sshUp(slow);
    const running = Date.now();
    const sizes: number[] = [];
    await waitFor('slow engine listening', async () => {
      sizes.push((await log(client)).length);
      return (await health(slow.enginePort)) === 200;
    }, 15_000, 100);
    expect(Date.now() - running).toBeGreaterThan(1_000);
    expect(new Set(sizes).size).toBeGreaterThan(5);
    expect((await log(client)).match(/^model\.safetensors: +\d+%/gm)?.length).toBe(6);
  });

  it.each([
    ['unknown repo', { onstart: onstart('Qwen/does-not-exist-7B') }, [
      'huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error.',
      "ValueError: Invalid repository ID or local directory specified: 'Qwen/does-not-exist-7B'.",
    ]],
    ['CUDA OOM', { onstart: onstart('Qwen/Qwen2.5-14B-Instruct'), gpu_name: 'NVIDIA GeForce RTX 4090', gpu_ram_mb: 24564 }, [
      'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB. GPU 0 has a total capacity of 23.99 GiB',
      'RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}',
    ]],
    ['KV cache too small', { onstart: onstart(MODEL, '--max-model-len 262144') }, [
      "ValueError: To serve at least one request with the models's max seq len (262144)",
      'the estimated maximum model length is 131072.',
      'RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}',
    ]],
  ] as const)('sim host - workload fault (%s) writes its signature, the process exits and no port opens', async (_name, spec, signature) => {
    const h = await host(spec);
    const client = await sshUp(h);
    const last = signature.at(-1)!;
    await waitFor('failure in the log', async () => (await log(client)).includes(last), 10_000, 20);
    const text = await log(client);
    for (const line of signature) expect(text).toContain(line);
    expect(text).not.toContain('Application startup complete.');
    await waitFor('process gone', async () => (await run(client, ENGINE_PATTERN)).code === 1, 5_000, 20);
    expect(await refuses(h.enginePort)).toBe(true);
  });

  it('sim host - two hosts side by side see their own /tmp and engine port only', async () => {
    const a = await host({ onstart: onstart(MODEL) });
    const b = await host({ onstart: onstart('TinyLlama/TinyLlama-1.1B-Chat-v1.0') });
    expect(a.enginePort).not.toBe(b.enginePort);
    const [ca, cb] = await Promise.all([sshUp(a), sshUp(b)]);
    expect((await run(ca, 'echo from-a > /tmp/marker && cat /tmp/marker')).stdout).toBe('from-a\n');
    expect((await run(cb, 'cat /tmp/marker')).code).toBe(1);
    for (const h of [a, b]) await waitFor('engine listening', async () => (await health(h.enginePort)) === 200, 10_000, 10);
    const modelsVia = async (c: Client): Promise<unknown> => JSON.parse((await run(c, 'curl -fsS http://localhost:8000/v1/models')).stdout);
    expect(await modelsVia(ca)).toMatchObject({ data: [{ id: MODEL }] });
    expect(await modelsVia(cb)).toMatchObject({ data: [{ id: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0' }] });
    expect(await log(ca)).not.toContain('TinyLlama');
    expect(await log(cb)).not.toContain('Qwen');
  });

  it('sim host - exit codes, stderr, signals and output pass through; a closed channel kills the command', async () => {
    const h = await host({ onstart: '' });
    const client = await sshUp(h);
    expect(await run(client, 'exit 3')).toMatchObject({ code: 3, signal: undefined });
    expect(await run(client, 'echo x >&2; echo y')).toEqual({ code: 0, signal: undefined, stdout: 'y\n', stderr: 'x\n' });
    expect(await run(client, 'kill -TERM $$')).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect((await run(client, "head -c 3000000 /dev/zero | tr '\\0' a")).stdout.length).toBe(3_000_000);
    expect((await run(client, 'echo "$HF_TOKEN ${FOO:-unset} $HOME"', { env: { FOO: 'bar' } })).stdout).toMatch(/^hf_test unset \/.+\/root\n$/);
    const pid = await new Promise<number>((resolve, reject) => {
      client.exec('echo $$; exec sleep 30', (err, ch) => {
        if (err) return reject(err);
        ch.once('data', (d: Buffer) => {
          resolve(Number(d.toString().trim()));
          ch.close();
        });
      });
    });
    await waitFor('command killed', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5_000, 10);
  });

  it('sim host - accepts only root with an authorized key; OpenSSH clients work too', async () => {
    const h = await host({ onstart: '' });
    await sshUp(h);
    await expect(connect(h, { privateKey: OTHER_KEY.private })).rejects.toThrow(/authentication methods failed/);
    await expect(connect(h, { username: 'ubuntu' })).rejects.toThrow(/authentication methods failed/);
    const dir = await mkdtemp(join(tmpdir(), 'sim-host-test-'));
    try {
      await writeFile(join(dir, 'id'), KEY.private, { mode: 0o600 });
      const ssh = ['-i', join(dir, 'id'), '-p', String(h.sshPort), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
      const ok = await promisify(execFile)('ssh', [...ssh, 'echo hi; ls /tmp']);
      expect(ok.stdout).toBe('hi\n');
      await expect(promisify(execFile)('ssh', [...ssh, 'exit 7'])).rejects.toMatchObject({ code: 7 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sim host - reads the launch from an onstart script and rewrites host-local names', () => {
    const script = "nohup vllm serve 'Qwen/Qwen2.5-7B-Instruct' --host 0.0.0.0 --port 8000 --max-model-len 8192 --enforce-eager > /tmp/vllm.log 2>&1 &";
    expect(parseOnstart(script, {})).toMatchObject({
      form: 'serve', model: 'Qwen/Qwen2.5-7B-Instruct', maxModelLen: 8192,
      commandLine: '/usr/bin/python3 /usr/local/bin/vllm serve Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 8000 --max-model-len 8192 --enforce-eager',
    });
    expect(parseOnstart('python3 -m vllm.entrypoints.openai.api_server --model "$M" --served-model-name m', { M: 'x/y' }))
      .toMatchObject({ form: 'module', model: 'x/y', servedModelName: 'm' });
    expect(parseOnstart('sleep infinity', {})).toBeUndefined();
    // vLLM's HTTP keep-alive: uvicorn's 5 s unless the instance env, an export or a prefix sets it.
    expect(parseOnstart('vllm serve m', {})?.keepAliveS).toBe(5);
    expect(parseOnstart('vllm serve m', { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '60' })?.keepAliveS).toBe(60);
    expect(parseOnstart("export A=1 VLLM_HTTP_TIMEOUT_KEEP_ALIVE='30'\nvllm serve m --api-key \"$A\"", {})).toMatchObject({ keepAliveS: 30, apiKey: '1' });
    expect(parseOnstart('VLLM_HTTP_TIMEOUT_KEEP_ALIVE=45 vllm serve m', { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '60' })?.keepAliveS).toBe(45);
    expect(parseOnstart('vllm serve m', { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: 'soon' })?.keepAliveS).toBe(5);
    expect(rewriteCommand('tail /tmp/vllm.log; curl localhost:8000/health; ls /tmp /var/tmp ${HOME}/tmp', '/R/tmp', 4321))
      .toBe('tail /R/tmp/vllm.log; curl 127.0.0.1:4321/health; ls /R/tmp /var/tmp ${HOME}/tmp');
  });

  it('sim host - every profile is documented', () => {
    expect(Object.keys(HOST_PROFILE_DOCS).sort()).toEqual([...HOST_PROFILES].sort());
  });
});
