/**
 * Contracts of the simulator area. The simulated vLLM engine stands in for a GPU host running
 * `vllm serve`; its wire behaviour follows shared/reference/vllm-api.md.
 */

/** Faults the simulated engine can inject; all are settable at runtime with `setFaults`. */
export interface SimEngineFaults {
  /** Stop listening, so connections are refused; listening resumes (same port) when cleared. */
  refuse?: boolean;
  /** Fail generation requests before any token: drop the socket, or answer a vLLM-style 500. */
  failBeforeFirstToken?: 'reset' | 'http500' | undefined;
  /** Destroy the socket after this many tokens of a stream (no error event, no `[DONE]`). */
  dieAfterTokens?: number | undefined;
  /** Send vLLM's mid-stream error event and `[DONE]` after this many tokens. */
  errorAfterTokens?: number | undefined;
  /** Multiplies every delay (time to first token and the per-token interval). */
  slowFactor?: number | undefined;
  /** Accept generation requests and send headers, but never send a token. */
  hang?: boolean | undefined;
  /** Engine died: `/health` answers 503, new requests 500, open streams get an error event. */
  engineDead?: boolean | undefined;
}

/** How to start a simulated engine. */
export interface SimEngineOptions {
  /** Served model id (`--served-model-name`). */
  model: string;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Time from a sequence getting its slot to its first token, in ms; default 0. */
  ttftMs?: number;
  /** Per-stream decode rate; 0 (default) generates as fast as the socket takes it. */
  tokensPerSec?: number;
  /** Sequences running at once; more wait in FIFO order (`num_requests_waiting`). Default 256. */
  maxNumSeqs?: number;
  /** Context window (`--max-model-len`); default 2048. */
  maxModelLen?: number;
  /** Reported by `/version`; default "0.11.0". */
  version?: string;
  /** When set, `/v1/*` needs `Authorization: Bearer <apiKey>` (`--api-key`). */
  apiKey?: string;
  /** Faults active from the start. */
  faults?: SimEngineFaults;
  /** How long an idle connection stays open, in ms; default 5,000 (uvicorn's `timeout_keep_alive`, vLLM's default). */
  keepAliveTimeoutMs?: number;
}

/** Live counters of a simulated engine. */
export interface SimEngineStats {
  /** Sequences holding a slot (prefill or decode). */
  running: number;
  /** Requests queued for a slot. */
  waiting: number;
  /** Generation requests received (including failed ones). */
  requestsTotal: number;
  /** Tokens generated across all requests. */
  tokensTotal: number;
}

/** A running simulated engine. */
export interface SimEngine {
  /** Base URL, e.g. `http://127.0.0.1:43121` (no trailing slash). */
  readonly url: string;
  /** The port it listens on (kept across `refuse` on/off). */
  readonly port: number;
  /** Served model id. */
  readonly model: string;
  /** Merges `partial` into the active faults; resolves once the listening state matches. */
  setFaults(partial: SimEngineFaults): Promise<void>;
  /** Current counters. */
  stats(): SimEngineStats;
  /** Ends open streams and connections and stops the server. */
  close(): Promise<void>;
}
