/**
 * vLLM readiness (vllm-api.md §1–§2). vLLM binds its port early but only listens once startup
 * is complete, so connections are refused while it loads: `/health` 200 is the first sign the
 * port is bound, and a refused connection is "not yet", never a failure.
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
  jsonOf,
  localUrl,
  verdict,
  type StageCheck,
} from './checks.js';

const CompletionSchema = z.object({ choices: z.array(z.object({ text: z.string() })).min(1) });

/** Readiness of `vllm serve` (log `/tmp/vllm.log` by default). */
export class VllmReadinessAdapter extends EngineReadinessAdapter {
  /** Always `vllm`. */
  readonly engine: EngineKind = 'vllm';
  protected readonly processPattern = 'vllm|api_server';

  /** @param opts where the log is, if not `/tmp/vllm.log`. */
  constructor(opts: ReadinessAdapterOptions = {}) {
    super(opts, '/tmp/vllm.log');
  }

  protected modelListed(ctx: ReadinessContext): StageCheck {
    return {
      request: { name: `models_${ctx.port}`, command: curlGetCommand(localUrl(ctx.port, '/v1/models')), timeoutMs: PROBE_TIMEOUTS.http },
      judge: (r) => verdict(jsonOf(r, ModelListSchema)?.data.some((m) => m.id === ctx.model) === true, 'model_listed'),
    };
  }

  protected generation(ctx: ReadinessContext): StageCheck {
    const body = { model: ctx.model, prompt: 'Hello', max_tokens: 1, temperature: 0 };
    return {
      request: {
        name: `generation_${ctx.port}`,
        command: curlPostJsonCommand(localUrl(ctx.port, '/v1/completions'), body),
        timeoutMs: PROBE_TIMEOUTS.generation,
      },
      judge: (r) => verdict(jsonOf(r, CompletionSchema) !== undefined, 'generation_ok'),
    };
  }
}
