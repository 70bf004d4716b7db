/**
 * llama.cpp `llama-server` readiness (vllm-api.md §8). Unlike vLLM it listens before the model is
 * loaded and answers 503 `Loading model` meanwhile, so any HTTP answer means the port is bound and
 * only `/health` 200 means the model is in; `model_listed` therefore asks both.
 */
import { z } from 'zod';
import type { EngineKind } from '../../protocols/index.js';
import type { ReadinessContext } from '../types.js';
import { EngineReadinessAdapter, type ReadinessAdapterOptions } from './adapter.js';
import {
  PROBE_TIMEOUTS,
  ModelListSchema,
  curlGetCommand,
  curlPostJsonCommand,
  curlStatusCommand,
  httpStatusOf,
  jsonOf,
  localUrl,
  verdict,
  type StageCheck,
} from './checks.js';

const CompletionSchema = z.object({ content: z.string() });

/**
 * Whether a `/v1/models` id names `model`. llama-server reports `--alias` when given, otherwise the
 * model file path, so a path whose file name (with or without `.gguf`) is `model` counts too.
 */
export function llamaModelMatches(id: string, model: string): boolean {
  if (id === model) return true;
  const file = id.slice(id.lastIndexOf('/') + 1);
  return file === model || file.replace(/\.gguf$/i, '') === model;
}

/** Readiness of `llama-server` (log `/tmp/llama.log` by default). */
export class LlamaCppReadinessAdapter extends EngineReadinessAdapter {
  /** Always `llamacpp`. */
  readonly engine: EngineKind = 'llamacpp';
  protected readonly processPattern = 'llama-server';

  /** @param opts where the log is, if not `/tmp/llama.log`. */
  constructor(opts: ReadinessAdapterOptions = {}) {
    super(opts, '/tmp/llama.log');
  }

  protected override portBound(ctx: ReadinessContext): StageCheck {
    return {
      request: { name: `health_${ctx.port}`, command: curlStatusCommand(localUrl(ctx.port, '/health')), timeoutMs: PROBE_TIMEOUTS.http },
      judge: (r) => {
        const status = httpStatusOf(r);
        if (status === undefined) return { passed: false, markers: [] };
        if (status === 200) return { passed: true, markers: ['port_bound', 'health_ok'] };
        return { passed: true, markers: status === 503 ? ['port_bound', 'model_loading'] : ['port_bound'] };
      },
    };
  }

  protected modelListed(ctx: ReadinessContext): StageCheck {
    // `/health` must be 200 first: while loading, llama-server may still answer other routes.
    const command = `${curlGetCommand(localUrl(ctx.port, '/health'))} >/dev/null\n${curlGetCommand(localUrl(ctx.port, '/v1/models'))}`;
    return {
      request: { name: `models_${ctx.port}`, command, timeoutMs: PROBE_TIMEOUTS.http },
      judge: (r) => {
        const listed = jsonOf(r, ModelListSchema)?.data.some((m) => llamaModelMatches(m.id, ctx.model)) === true;
        return { passed: listed, markers: listed ? ['health_ok', 'model_listed'] : [] };
      },
    };
  }

  protected generation(ctx: ReadinessContext): StageCheck {
    return {
      request: {
        name: `generation_${ctx.port}`,
        command: curlPostJsonCommand(localUrl(ctx.port, '/completion'), { prompt: 'Hello', n_predict: 1 }),
        timeoutMs: PROBE_TIMEOUTS.generation,
      },
      judge: (r) => verdict(jsonOf(r, CompletionSchema) !== undefined, 'generation_ok'),
    };
  }
}
