/**
 * A simulated GPU host (`startSimHost`): what the simulated marketplace starts for one instance,
 * a separate machine to anything run through SSH.
 *
 * Mechanism: a per-host command environment. Each host has its own root dir (a temp dir with
 * `tmp/`, `root/` as HOME, `bin/` with host-specific `nvidia-smi`, `ps` and `pgrep` shims, and
 * `.sim/` holding the state the shims read) and an ssh2 server on 127.0.0.1:<sshPort> (user `root`,
 * the instance's authorized keys). An `exec` request runs the real `/bin/bash -c <command>` after
 * two rewrites, `/tmp` → `<hostRoot>/tmp` and `127.0.0.1:8000`/`localhost:8000` → the host's public
 * engine port, with `<hostRoot>/bin` first on PATH (host-ssh.ts). The vLLM process is simulated in
 * this Node process: the host parses the onstart script's `vllm serve …` line, appends vLLM's real
 * startup lines to `/tmp/vllm.log` over a scaled timeline, and only at `Application startup
 * complete.` starts the simulated engine on the engine port, which refuses connections until then
 * as vLLM's does (host-boot.ts, vllm-api.md §1). It is a simulator on loopback, not a sandbox.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimEngine } from './engine.js';
import { bootPlan, type BootAction } from './host-boot.js';
import { knownModel, parseOnstart, type SimLaunch } from './host-launch.js';
import { stamp } from './host-logs.js';
import { SimHostFiles } from './host-shims.js';
import { listenSilent, listenSsh, type SshListener } from './host-ssh.js';
import { simPorts } from './ports.js';
import type { HostProfile, SimContainerStatus, SimHost, SimHostSpec } from './host-types.js';
import type { SimEngine } from './types.js';

/** One line per profile: how the host behaves (for the README). */
export const HOST_PROFILE_DOCS: Readonly<Record<HostProfile, string>> = {
  healthy: 'container up in ~6 s, vLLM boots through the real startup lines and listens on :8000 after `Application startup complete.` (~45 s at timeScale 1)',
  slow_warmup: 'as healthy but the boot is 4× slower (~2.5 min); log lines, download progress included, keep coming (at most ~30 s apart), so it is slow, not stuck',
  ssh_never: 'container runs, but the SSH port accepts TCP and never completes the handshake',
  gpu_fallen_off: 'nvidia-smi fails with `Unable to determine the device handle …: Unknown Error` (exit 15); vLLM dies with `RuntimeError: No CUDA GPUs are available`',
  nvml_mismatch: 'nvidia-smi fails with `Failed to initialize NVML: Driver/library version mismatch` (exit 18); vLLM finds no platform and exits (`Failed to infer device type`)',
  container_fail: 'container goes from loading to exited with an OCI runtime / nvidia-container-cli error in status_msg; SSH never answers',
  dies_while_serving: 'boots healthy, serves for ~20 s, then the engine dies (`EngineDeadError`, /health 503, then connections refused) and the process leaves ps',
  hangs: 'vLLM writes its first lines and stops forever: no new lines, the port never listens, the process stays in ps',
  broken_shell: 'boots like healthy, but every SSH command runs in a shell whose start-up file sends all output to /dev/null, so even `printf __PROBE_OK__` prints nothing',
};

/** Container states' messages, as Vast's `status_msg`. */
export const SIM_HOST_STATUS_MSG = {
  loading: 'loading: pulling image…',
  running: 'success, running vllm/vllm-openai/ssh',
  /** Prefix of the status of a container whose sshd could not listen; the cause follows. */
  sshd_fail: 'container exited: sshd could not listen: ',
  container_fail:
    'Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown',
} as const;

/** The simulated timeline in seconds at timeScale 1 (every duration is multiplied by `timeScale`). */
export const SIM_HOST_TIMELINE = {
  /** loading → running (or → exited for `container_fail`). */
  containerStartS: 6,
  /** Real seconds per second of the fixture's log timeline (healthy vLLM boot ≈ 76 × 0.5 s). */
  bootPace: 0.5,
  /** `slow_warmup` multiplies the boot by this. */
  slowWarmupFactor: 4,
} as const;

/** Starts a simulated host: its files and ports now, the container and vLLM on the scaled timeline. */
export async function startSimHost(spec: SimHostSpec): Promise<SimHost> {
  const [sshPort, enginePort] = await simPorts(2);
  const safeId = spec.instance_id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  const root = await mkdtemp(join(tmpdir(), `drover-simhost-${safeId}-`));
  const host = new SimHostRuntime(spec, new SimHostFiles(root, spec), sshPort ?? 0, enginePort ?? 0);
  host.start();
  return host;
}

class SimHostRuntime implements SimHost {
  readonly instanceId: string;
  readonly profile: HostProfile;
  private state: SimContainerStatus['actual_status'] = 'loading';
  /** Why the container exited (its provider status message). */
  private exitMsg: string = SIM_HOST_STATUS_MSG.container_fail;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  private readonly tasks = new Set<Promise<void>>();
  private ssh: SshListener | undefined;
  private engine: SimEngine | undefined;
  private closed = false;

  constructor(
    private readonly spec: SimHostSpec,
    private readonly files: SimHostFiles,
    readonly sshPort: number,
    readonly enginePort: number,
  ) {
    this.instanceId = spec.instance_id;
    this.profile = spec.profile;
  }

  status(): SimContainerStatus {
    if (this.state === 'loading') return { actual_status: 'loading', status_msg: SIM_HOST_STATUS_MSG.loading };
    if (this.state === 'exited') return { actual_status: 'exited', status_msg: this.exitMsg };
    return { actual_status: 'running', status_msg: SIM_HOST_STATUS_MSG.running };
  }

  start(): void {
    this.track(async () => {
      await this.sleep(SIM_HOST_TIMELINE.containerStartS * 1000 * this.spec.timeScale);
      if (this.closed) return;
      if (this.profile === 'container_fail') {
        this.state = 'exited';
        return;
      }
      const bashEnv = this.profile === 'broken_shell' ? join(this.files.homeDir, '.broken_bash_env') : undefined;
      if (bashEnv !== undefined) await writeFile(bashEnv, 'exec >/dev/null 2>&1\n');
      const ctx = {
        tmpDir: this.files.tmpDir,
        homeDir: this.files.homeDir,
        binDir: this.files.binDir,
        enginePort: this.enginePort,
        env: this.spec.env,
        ...(bashEnv === undefined ? {} : { bashEnv }),
      };
      try {
        this.ssh = this.profile === 'ssh_never' ? await listenSilent(this.sshPort) : await listenSsh(this.sshPort, this.spec.authorizedKeys, ctx);
      } catch (err) {
        // The port reserved at start was taken meanwhile (or the listen failed otherwise): the
        // container exits saying why, so the failure is visible to the provider API and the host
        // is replaced at once, not after the SSH deadline with nothing in any log.
        this.exitMsg = `${SIM_HOST_STATUS_MSG.sshd_fail}${err instanceof Error ? err.message : String(err)}`;
        this.state = 'exited';
        return;
      }
      // Running only once SSH listens: a probe that sees `running` finds the port bound.
      this.state = 'running';
      // A close() meanwhile waits for this task, then closes what it started.
    });
    this.track(async () => {
      await this.sleep(SIM_HOST_TIMELINE.containerStartS * 1000 * this.spec.timeScale);
      if (this.closed || this.profile === 'container_fail') return;
      const launch = parseOnstart(this.spec.onstart, this.spec.env);
      if (launch !== undefined) await this.boot(launch);
      else await this.watchLaunch();
    });
  }

  /**
   * A host with no onstart (one you own) boots when the launch command arrives over SSH: the
   * `vllm` shim records it and this loop picks it up.
   */
  private async watchLaunch(): Promise<void> {
    while (!this.closed) {
      const request = this.files.takeLaunchRequest();
      const launch = request === undefined ? undefined : parseOnstart(request, this.spec.env);
      if (launch !== undefined) {
        await this.boot(launch);
        return;
      }
      await this.sleep(50);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const wake of this.wakers) wake();
    await Promise.allSettled(this.tasks);
    await this.ssh?.close();
    await this.engine?.close();
    this.files.remove();
  }

  /** Runs the vLLM process of the onstart script through its boot plan. */
  private async boot(launch: SimLaunch): Promise<void> {
    const plan = bootPlan({ launch, profile: this.profile, gpuRamMb: this.spec.gpu_ram_mb });
    const started = Date.now();
    const msPerT = 1000 * SIM_HOST_TIMELINE.bootPace * this.spec.timeScale
      * (this.profile === 'slow_warmup' ? SIM_HOST_TIMELINE.slowWarmupFactor : 1);
    this.files.processStarted(launch.commandLine, launch.form === 'serve' ? 'vllm' : 'python3', new Date());
    for (const event of plan) {
      await this.sleep(started + event.t * msPerT - Date.now());
      if (this.closed) return;
      const now = new Date();
      this.files.appendLog(event.lines.map((line) => stamp(line, now)));
      if (event.action !== undefined && !(await this.act(event.action, launch))) return;
    }
  }

  /** Performs one action of the plan; false when the plan stops here. */
  private async act(action: BootAction, launch: SimLaunch): Promise<boolean> {
    switch (action) {
      case 'weights_loaded': {
        const util = Number(launch.flags.get('--gpu-memory-utilization'));
        this.files.gpuMemoryUsed(this.spec.gpu_ram_mb * (util > 0 && util <= 1 ? util : 0.9));
        return true;
      }
      case 'listen':
        try {
          this.engine = await startSimEngine({
            model: launch.servedModelName,
            host: '127.0.0.1',
            port: this.enginePort,
            maxModelLen: launch.maxModelLen ?? knownModel(launch.model)?.defaultMaxModelLen ?? 2048,
            keepAliveTimeoutMs: launch.keepAliveS * 1_000,
            ...(launch.apiKey === undefined ? {} : { apiKey: launch.apiKey }),
          });
        } catch (err) {
          const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
          this.files.appendLog([`(APIServer pid=1) OSError: ${inUse ? '[Errno 98] Address already in use' : String(err)}`]);
          this.files.processExited();
          return false;
        }
        return !this.closed;
      case 'die':
        await this.engine?.setFaults({ engineDead: true });
        return true;
      case 'exit':
        await this.engine?.close();
        this.engine = undefined;
        this.files.processExited();
        return false;
      case 'hang':
        return false;
    }
  }

  /** Sleeps `ms` unless the host closes first. */
  private async sleep(ms: number): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.timers.add(timer);
      this.wakers.add(wake);
    });
  }

  /** Runs a background task; close() waits for it. A failure after close is expected; before, it is a defect and surfaces. */
  private track(task: () => Promise<void>): void {
    const running = task().catch((err: unknown) => {
      if (!this.closed) throw err;
    }).finally(() => this.tasks.delete(running));
    this.tasks.add(running);
  }
}
