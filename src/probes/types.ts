/**
 * Contracts of the probes: the SSH executor that runs commands on a host (one connection per host,
 * transport failures kept apart from command failures) and the readiness adapters that know which
 * commands show each readiness stage of an engine.
 */
import type { EngineKind, ProbeResult, ReadinessStage } from '../protocols/index.js';

/** How to reach a host. The key is passed as content; `keyPath` is only for (redacted) logs. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string | Buffer;
  keyPath?: string;
  /** Handshake timeout (ssh2 readyTimeout). */
  handshakeTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

/** One command to run. */
export interface ProbeRequest {
  /** Short name for logs and evidence (e.g. `gpu`, `models_8000`). */
  name: string;
  /** Shell text, run as `bash -c` under `set -euo pipefail`; quoted deterministically by the executor. */
  command: string;
  timeoutMs: number;
}

/** Runs commands on one host over one reused connection. Never throws for expected failures. */
export interface ProbeExecutor {
  /** Runs one command; every failure (transport, timeout, exit code, signal) is a ProbeResult. */
  run(req: ProbeRequest): Promise<ProbeResult>;
  /** Closes the connection. */
  close(): Promise<void>;
  /**
   * Ends the current connection but stays usable: the next run connects again. A host that is
   * ready holds no SSH session (memory, keepalives) until it needs examining.
   */
  disconnect(): Promise<void>;
}

/** What a readiness adapter observed for one stage. */
export interface StageObservation {
  stage: ReadinessStage;
  /** The stage's condition holds. */
  passed: boolean;
  /** Every probe run for this observation. */
  probes: ProbeResult[];
  /** Tail of the engine log, when read. */
  logTail?: string;
  /** Semantic markers of progress seen (e.g. `weights_loaded`, `routes_logged`, `port_bound`). */
  markers: string[];
}

/** Context of one host for readiness probes. */
export interface ReadinessContext {
  model: string;
  /** Engine port inside the host. */
  port: number;
}

/** The engine-specific part of readiness (vLLM, llama.cpp, TGI). */
export interface ReadinessAdapter {
  readonly engine: EngineKind;
  /** Observes one stage on the host (stages from `executor` on; `instance_running`/`ssh` are the HostActor's). */
  observe(stage: ReadinessStage, exec: ProbeExecutor, ctx: ReadinessContext): Promise<StageObservation>;
}
