/**
 * What a simulated host reads from an instance's onstart script: the vLLM invocation
 * (`vllm serve <model> …` or `python3 -m vllm.entrypoints.openai.api_server --model <m> …`) and the
 * workload fault that launch config would hit on this GPU (unknown repo, CUDA OOM, KV cache too
 * small). Pure: no I/O, so the rules are easy to read and to test.
 */

/** A model the simulated Hugging Face hub knows. */
export interface SimKnownModel {
  repo: string;
  architecture: string;
  /** Context window vLLM derives from the model config when `--max-model-len` is absent. */
  defaultMaxModelLen: number;
}

/** Repos the simulated hub serves; any other id (or one containing `does-not-exist`) is not found. */
export const SIM_KNOWN_MODELS: readonly SimKnownModel[] = [
  { repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', architecture: 'LlamaForCausalLM', defaultMaxModelLen: 2048 },
  { repo: 'Qwen/Qwen2.5-1.5B-Instruct', architecture: 'Qwen2ForCausalLM', defaultMaxModelLen: 32768 },
  { repo: 'Qwen/Qwen2.5-7B-Instruct', architecture: 'Qwen2ForCausalLM', defaultMaxModelLen: 32768 },
  { repo: 'Qwen/Qwen2.5-14B-Instruct', architecture: 'Qwen2ForCausalLM', defaultMaxModelLen: 32768 },
  { repo: 'meta-llama/Llama-3.1-8B-Instruct', architecture: 'LlamaForCausalLM', defaultMaxModelLen: 131072 },
];

/** The vLLM launch an onstart script asks for. */
export interface SimLaunch {
  /** Command line as `ps` shows it. */
  commandLine: string;
  /** `vllm serve` (positional model) or the module entrypoint (`--model`). */
  form: 'serve' | 'module';
  /** Model path / repo id. */
  model: string;
  /** Id the API serves (`--served-model-name`, else the model). */
  servedModelName: string;
  /** `--max-model-len` when given. */
  maxModelLen: number | undefined;
  /** `--api-key` or `VLLM_API_KEY`. */
  apiKey: string | undefined;
  /** `VLLM_HTTP_TIMEOUT_KEEP_ALIVE`: how long the API server keeps an idle connection, in seconds (default 5, uvicorn's). */
  keepAliveS: number;
  /** Every `--flag` seen, with its value (`true` for a bare flag). */
  flags: ReadonlyMap<string, string | true>;
}

/** A reason the launch fails whatever the host's health. */
export type SimWorkloadFault =
  | { kind: 'bad_repo' }
  | { kind: 'oom'; neededMb: number }
  | { kind: 'kv_cache'; maxFitLen: number };

const BOOLEAN_FLAGS = new Set([
  '--enforce-eager', '--trust-remote-code', '--enable-prefix-caching', '--no-enable-prefix-caching',
  '--disable-log-requests', '--disable-log-stats', '--enable-chunked-prefill', '--enable-auto-tool-choice',
  '--disable-frontend-multiprocessing', '--enable-lora', '--headless',
]);
const CONTROL = /^(?:&&|\|\||[;&|]|\d?>>?|\d?>&\d|<)$/;
const CONTEXT_CAP = 131072;
/** uvicorn's `timeout_keep_alive`, which vLLM keeps unless `VLLM_HTTP_TIMEOUT_KEEP_ALIVE` is set. */
const DEFAULT_KEEP_ALIVE_S = 5;
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/**
 * Finds the vLLM invocation in an onstart script; undefined when it starts no vLLM. The engine's
 * environment is `env` plus what the script exports before it and the assignments that prefix it.
 */
export function parseOnstart(script: string, instanceEnv: Readonly<Record<string, string>>): SimLaunch | undefined {
  const joined = script.replace(/\\\r?\n/g, ' ');
  const scriptEnv: Record<string, string> = { ...instanceEnv };
  for (const line of joined.split(/\r?\n/)) {
    if (/^\s*export\s/.test(line)) {
      for (const word of shellWords(line, scriptEnv).slice(1)) {
        const m = ASSIGNMENT.exec(word);
        if (m !== null) scriptEnv[m[1]!] = m[2]!;
      }
      continue;
    }
    if (!/\bvllm\s+serve\b|vllm\.entrypoints\.openai\.api_server/.test(line)) continue;
    const words = shellWords(line, scriptEnv);
    const env: Record<string, string> = { ...scriptEnv };
    for (const word of words) {
      const m = ASSIGNMENT.exec(word);
      if (m === null) break;
      env[m[1]!] = m[2]!;
    }
    const serveAt = words.findIndex((w, i) => w === 'serve' && /(?:^|\/)vllm$/.test(words[i - 1] ?? ''));
    const moduleAt = words.indexOf('vllm.entrypoints.openai.api_server');
    const form = serveAt >= 0 ? 'serve' : 'module';
    const argsFrom = serveAt >= 0 ? serveAt + 1 : moduleAt + 1;
    if (argsFrom <= 0) continue;
    const stop = words.findIndex((w, i) => i >= argsFrom && CONTROL.test(w));
    const argWords = words.slice(argsFrom, stop < 0 ? undefined : stop);
    const { positional, flags } = parseArgs(argWords);
    const flagModel = flags.get('--model');
    const model = form === 'serve' && positional[0] !== undefined ? positional[0] : typeof flagModel === 'string' ? flagModel : undefined;
    if (model === undefined) continue;
    const served = flags.get('--served-model-name');
    const maxLen = flags.get('--max-model-len');
    const apiKey = flags.get('--api-key');
    const head = form === 'serve' ? ['/usr/bin/python3', '/usr/local/bin/vllm', 'serve'] : ['python3', '-m', 'vllm.entrypoints.openai.api_server'];
    return {
      commandLine: [...head, ...argWords].join(' '),
      form,
      model,
      servedModelName: typeof served === 'string' ? served : model,
      maxModelLen: typeof maxLen === 'string' && /^\d+$/.test(maxLen) ? Number(maxLen) : undefined,
      apiKey: typeof apiKey === 'string' ? apiKey : env['VLLM_API_KEY'],
      keepAliveS: keepAliveOf(env['VLLM_HTTP_TIMEOUT_KEEP_ALIVE']),
      flags,
    };
  }
  return undefined;
}

/** vLLM reads the variable with int(); anything else here falls back to the default. */
function keepAliveOf(raw: string | undefined): number {
  const value = raw?.trim() ?? '';
  return /^\d+$/.test(value) ? Number(value) : DEFAULT_KEEP_ALIVE_S;
}

/** The known model entry for a repo id, if any. */
export function knownModel(repo: string): SimKnownModel | undefined {
  if (repo.includes('does-not-exist')) return undefined;
  return SIM_KNOWN_MODELS.find((m) => m.repo === repo);
}

/** Billions of parameters read from the model name (`…-14B-…` → 14); 0 when the name has none. */
export function paramsBillions(model: string): number {
  const match = /(?:^|[^\d.])(\d+(?:\.\d+)?)[Bb](?![A-Za-z])/.exec(model);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** Memory the weights need in MiB: bf16 ≈ 2 GiB per billion parameters, plus 20% overhead. */
export function weightsMb(model: string): number {
  return Math.round(paramsBillions(model) * 2048 * 1.2);
}

/** The context length that fits this GPU (the simulator's rule: ≤ 131072 and ≤ gpu_ram_mb × 4). */
export function maxFitModelLen(gpuRamMb: number): number {
  return Math.min(CONTEXT_CAP, Math.floor((gpuRamMb * 4) / 16) * 16);
}

/** The first workload fault this launch hits on a GPU with `gpuRamMb`, in vLLM's boot order. */
export function workloadFault(launch: SimLaunch, gpuRamMb: number): SimWorkloadFault | undefined {
  if (knownModel(launch.model) === undefined) return { kind: 'bad_repo' };
  const neededMb = weightsMb(launch.model);
  if (neededMb > gpuRamMb) return { kind: 'oom', neededMb };
  const maxFitLen = maxFitModelLen(gpuRamMb);
  if (launch.maxModelLen !== undefined && launch.maxModelLen > maxFitLen) return { kind: 'kv_cache', maxFitLen };
  return undefined;
}

function parseArgs(words: string[]): { positional: string[]; flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (!word.startsWith('--')) {
      positional.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    if (eq > 0) {
      flags.set(word.slice(0, eq), word.slice(eq + 1));
      continue;
    }
    const next = words[i + 1];
    if (!BOOLEAN_FLAGS.has(word) && next !== undefined && !next.startsWith('--')) {
      flags.set(word, next);
      i++;
    } else {
      flags.set(word, true);
    }
  }
  return { positional, flags };
}

/**
 * Splits one shell line into words: single and double quotes, backslash escapes, `$VAR` and
 * `${VAR}` from `env` (unknown variables expand to nothing), and control operators as their own
 * words. Enough for launch lines; not a shell.
 */
export function shellWords(line: string, env: Readonly<Record<string, string>>): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '' | "'" | '"' = '';
  const flush = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (quote === "'") {
      if (c === "'") quote = '';
      else word += c;
      continue;
    }
    if (c === '\\' && i + 1 < line.length) {
      word += line[++i] ?? '';
      inWord = true;
    } else if (c === '$') {
      const m = /^\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))/.exec(line.slice(i));
      if (m === null) {
        word += c;
      } else {
        word += env[m[1] ?? m[2] ?? ''] ?? '';
        i += m[0].length - 1;
      }
      inWord = true;
    } else if (quote === '"') {
      if (c === '"') quote = '';
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '#' && !inWord) {
      break;
    } else if (/\s/.test(c)) {
      flush();
    } else if (/[;&|<>]/.test(c)) {
      const op = /^(?:\d?>&\d|&&|\|\||>>|[;&|<>])/.exec(line.slice(i))?.[0] ?? c;
      if (/^\d$/.test(word) && op.startsWith('>')) word += op;
      else {
        flush();
        word = op;
      }
      inWord = true;
      flush();
      i += op.length - 1;
    } else {
      word += c;
      inWord = true;
    }
  }
  flush();
  return words;
}
