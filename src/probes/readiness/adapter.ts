/**
 * The stage walk every engine shares: `executor` and `gpu` are engine-agnostic; from
 * `engine_process` on each observation runs the engine's probe and then reads the engine log tail,
 * so the classifier sees fatal lines as early as possible. The log is read after the stage probe,
 * never beside it, so the process listing cannot catch the log reader's own command line.
 */
import type { EngineKind, ProbeResult, ReadinessStage } from '../../protocols/index.js';
import type { ProbeExecutor, ReadinessAdapter, ReadinessContext, StageObservation } from '../types.js';
import { curlStatusCommand, executorCheck, gpuCheck, httpStatusOf, localUrl, logTailRequest, processCheck, PROBE_TIMEOUTS, verdict, type StageCheck } from './checks.js';

/** Options shared by the engine adapters. */
export interface ReadinessAdapterOptions {
  /** Where the engine's log is on the host; each engine has a default (`/tmp/vllm.log`, …). */
  logPath?: string;
}

/** Base of the engine adapters: the engine supplies its process pattern, HTTP checks and log markers. */
export abstract class EngineReadinessAdapter implements ReadinessAdapter {
  /** The engine this adapter knows. */
  abstract readonly engine: EngineKind;
  /** The engine log read into `logTail`. */
  readonly logPath: string;

  /** @param defaultLogPath used when `opts.logPath` is not set. */
  protected constructor(opts: ReadinessAdapterOptions, defaultLogPath: string) {
    this.logPath = opts.logPath ?? defaultLogPath;
  }

  /** Extended regular expression matching the engine's process command line (`ps -eo pid,args`). */
  protected abstract readonly processPattern: string;
  /** `port_bound`: by default `/health` answers 200 (vLLM, TGI); llama.cpp overrides it. */
  protected portBound(ctx: ReadinessContext): StageCheck {
    return {
      request: { name: `health_${ctx.port}`, command: curlStatusCommand(localUrl(ctx.port, '/health')), timeoutMs: PROBE_TIMEOUTS.http },
      judge: (r) => verdict(httpStatusOf(r) === 200, 'port_bound'),
    };
  }
  /** `model_listed`: the engine serves `ctx.model`. */
  protected abstract modelListed(ctx: ReadinessContext): StageCheck;
  /** `generation`: one 1-token generation returns a result. */
  protected abstract generation(ctx: ReadinessContext): StageCheck;

  /** Observes one stage. `instance_running` and `ssh` belong to the HostActor; asking for them is a defect. */
  async observe(stage: ReadinessStage, exec: ProbeExecutor, ctx: ReadinessContext): Promise<StageObservation> {
    const check = this.checkFor(stage, ctx);
    const result = await exec.run(check.request);
    const { passed, markers } = check.judge(result);
    const probes: ProbeResult[] = [result];
    if (stage === 'executor' || stage === 'gpu') return { stage, passed, probes, markers };
    const logs = await exec.run(logTailRequest(this.logPath));
    probes.push(logs);
    // Markers here come from probes only; reading startup markers out of the log is
    // policy/progress.ts's job, so there is one vocabulary for them.
    return logs.ok ? { stage, passed, probes, logTail: logs.stdout, markers } : { stage, passed, probes, markers };
  }

  private checkFor(stage: ReadinessStage, ctx: ReadinessContext): StageCheck {
    switch (stage) {
      case 'executor':
        return executorCheck();
      case 'gpu':
        return gpuCheck();
      case 'engine_process':
        return processCheck(this.processPattern);
      case 'port_bound':
        return this.portBound(ctx);
      case 'model_listed':
        return this.modelListed(ctx);
      case 'generation':
        return this.generation(ctx);
      case 'instance_running':
      case 'ssh':
        throw new Error(`readiness stage ${stage} is observed by the HostActor, not by a ${this.engine} readiness adapter`);
    }
  }
}
