/**
 * Hugging Face text-generation-inference readiness (vllm-api.md §8). The launcher starts the model
 * shards first and the HTTP router only once they are ready, so as with vLLM a refused connection
 * means "not yet"; `/info` names the model served and `/generate` makes the 1-token request.
 */
import { z } from 'zod';
import type { EngineKind } from '../../protocols/index.js';
import type { ReadinessContext } from '../types.js';
import { EngineReadinessAdapter, type ReadinessAdapterOptions } from './adapter.js';
import {
  PROBE_TIMEOUTS,
  curlGetCommand,
  curlPostJsonCommand,
  jsonOf,
  localUrl,
  verdict,
  type StageCheck,
} from './checks.js';

const InfoSchema = z.object({ model_id: z.string() });
const GenerateSchema = z.object({ generated_text: z.string() });

/** Readiness of `text-generation-launcher` (log `/tmp/tgi.log` by default). */
export class TgiReadinessAdapter extends EngineReadinessAdapter {
  /** Always `tgi`. */
  readonly engine: EngineKind = 'tgi';
  protected readonly processPattern = 'text-generation-launcher|text-generation-server';

  /** @param opts where the log is, if not `/tmp/tgi.log`. */
  constructor(opts: ReadinessAdapterOptions = {}) {
    super(opts, '/tmp/tgi.log');
  }

  protected modelListed(ctx: ReadinessContext): StageCheck {
    return {
      request: { name: `info_${ctx.port}`, command: curlGetCommand(localUrl(ctx.port, '/info')), timeoutMs: PROBE_TIMEOUTS.http },
      judge: (r) => verdict(jsonOf(r, InfoSchema)?.model_id === ctx.model, 'model_listed'),
    };
  }

  protected generation(ctx: ReadinessContext): StageCheck {
    const body = { inputs: 'Hello', parameters: { max_new_tokens: 1 } };
    return {
      request: {
        name: `generation_${ctx.port}`,
        command: curlPostJsonCommand(localUrl(ctx.port, '/generate'), body),
        timeoutMs: PROBE_TIMEOUTS.generation,
      },
      judge: (r) => verdict(jsonOf(r, GenerateSchema) !== undefined, 'generation_ok'),
    };
  }
}
