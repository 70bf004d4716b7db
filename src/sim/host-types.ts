/**
 * Contract of a simulated GPU host: what the simulated marketplace starts for each instance. A
 * SimHost behaves, to anything run through SSH, like a separate machine: its own `nvidia-smi`, its
 * own engine on container port 8000 started by the instance's onstart command, its own
 * `/tmp/vllm.log` with the real vLLM log lines. Its profile decides how it misbehaves.
 */

/** Host behaviours (issue: healthy, slow warm-up, SSH never up, GPU off the bus, NVML mismatch,
 * container start failure, engine dies while serving, hangs with no progress; plus a shell whose
 * start-up swallows all output, so the executor sanity probe cannot be trusted). */
export const HOST_PROFILES = [
  'healthy',
  'slow_warmup',
  'ssh_never',
  'gpu_fallen_off',
  'nvml_mismatch',
  'container_fail',
  'dies_while_serving',
  'hangs',
  'broken_shell',
] as const;
export type HostProfile = (typeof HOST_PROFILES)[number];

/** What the marketplace knows when it starts a host. */
export interface SimHostSpec {
  instance_id: string;
  profile: HostProfile;
  gpu_name: string;
  gpu_ram_mb: number;
  /** The instance's onstart script (Vast `onstart`), run when the container is up. */
  onstart: string;
  env: Record<string, string>;
  /** OpenSSH public keys accepted for login (user root). */
  authorizedKeys: string[];
  /**
   * Multiplies every simulated duration (container start, weight download, graph capture…).
   * 1 is realistic-ish (tens of seconds); tests use ~0.01.
   */
  timeScale: number;
}

/** Container state as the marketplace reports it (Vast actual_status + status_msg). */
export interface SimContainerStatus {
  actual_status: 'loading' | 'running' | 'exited';
  status_msg: string;
}

/** A running simulated host. */
export interface SimHost {
  readonly instanceId: string;
  readonly profile: HostProfile;
  /** SSH port on 127.0.0.1 (the profile `ssh_never` listens but never completes a handshake). */
  readonly sshPort: number;
  /** Public port on 127.0.0.1 mapped to the container's engine port 8000. */
  readonly enginePort: number;
  status(): SimContainerStatus;
  /** Stops the engine, the SSH server and removes the host's files. */
  close(): Promise<void>;
}
