/**
 * The engine log lines a simulated host writes to its `/tmp/vllm.log`. They are the lines of
 * test/fixtures/vllm_*.log (vLLM 0.11.0, V1 engine) with `{placeholders}` where the launch config
 * shows through (model, max model len, GPU memory); timestamps are rewritten to the time of
 * writing, and each fixture timestamp also gives the line's place on the boot timeline. The
 * `No CUDA GPUs`, engine-death and download-progress lines are reconstructed in the same format
 * (vllm-api.md §7), as the fixtures have no full log of them.
 */

/** One log line placed on the boot timeline (`t` in fixture seconds, before any scaling). */
export interface TimedLine {
  t: number;
  text: string;
}

/** Values for the `{name}` placeholders of the templates. */
export type LogVars = Readonly<Record<string, string>>;

export const STARTUP: readonly string[] = [
  "INFO 10-21 09:10:01 [__init__.py:216] Automatically detected platform cuda.",
  "(APIServer pid=1) INFO 10-21 09:10:05 [api_server.py:1839] vLLM API server version 0.11.0",
  "(APIServer pid=1) INFO 10-21 09:10:05 [utils.py:233] non-default args: {args}",
  "(APIServer pid=1) INFO 10-21 09:10:12 [model.py:547] Resolved architecture: {arch}",
  "(APIServer pid=1) INFO 10-21 09:10:12 [model.py:1510] Using max model len {max_len}",
  "(APIServer pid=1) INFO 10-21 09:10:13 [scheduler.py:205] Chunked prefill is enabled with max_num_batched_tokens=2048.",
  "INFO 10-21 09:10:18 [__init__.py:216] Automatically detected platform cuda.",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:20 [core.py:644] Waiting for init message from front-end.",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:20 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with config: model='{model}', speculative_config=None, tokenizer='{model}', skip_tokenizer_init=False, tokenizer_mode=auto, revision=None, trust_remote_code=False, dtype=torch.bfloat16, max_seq_len={max_len}, download_dir=None, load_format=auto, tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=1, quantization=None, enforce_eager=False, kv_cache_dtype=auto, device_config=cuda, seed=0, served_model_name={served}, enable_prefix_caching=True, chunked_prefill_enabled=True",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [parallel_state.py:1208] rank 0 in world size 1 is assigned as DP rank 0, PP rank 0, TP rank 0, EP rank 0",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [topk_topp_sampler.py:55] Using FlashInfer for top-p & top-k sampling.",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [gpu_model_runner.py:2602] Starting to load model {model}...",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [gpu_model_runner.py:2634] Loading model from scratch...",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:22 [cuda.py:366] Using Flash Attention backend on V1 engine.",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:23 [weight_utils.py:392] Using model weights format ['*.safetensors']",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:41 [weight_utils.py:450] No model.safetensors.index.json found in remote.",
  "Loading safetensors checkpoint shards:   0% Completed | 0/1 [00:00<?, ?it/s]",
  "Loading safetensors checkpoint shards: 100% Completed | 1/1 [00:00<00:00,  1.62it/s]",
  "Loading safetensors checkpoint shards: 100% Completed | 1/1 [00:00<00:00,  1.62it/s]",
  "(EngineCore_DP0 pid=187) ",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:42 [default_loader.py:267] Loading weights took 0.71 seconds",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:42 [gpu_model_runner.py:2653] Model loading took {weights_gib} GiB and 19.442187 seconds",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:47 [backends.py:548] Using cache directory: /root/.cache/vllm/torch_compile_cache/6d6b6b1c2e/rank_0_0/backbone for vLLM's torch.compile",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:47 [backends.py:559] Dynamo bytecode transform time: 4.71 s",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:10:50 [backends.py:197] Cache the graph for dynamic shape for later use",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:05 [backends.py:218] Compiling a graph for dynamic shape takes 17.35 s",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:08 [monitor.py:34] torch.compile takes 22.06 s in total",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:09 [gpu_worker.py:298] Available KV cache memory: {kv_gib} GiB",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:10 [kv_cache_utils.py:1087] GPU KV cache size: 2,483,296 tokens",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:10 [kv_cache_utils.py:1091] Maximum concurrency for {max_len_commas} tokens per request: {concurrency}x",
  "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 67/67 [00:03<00:00, 19.84it/s]",
  "Capturing CUDA graphs (decode, FULL): 100%|██████████| 35/35 [00:01<00:00, 22.91it/s]",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:16 [gpu_model_runner.py:3480] Graph capturing finished in 6 secs, took 0.54 GiB",
  "(EngineCore_DP0 pid=187) INFO 10-21 09:11:16 [core.py:210] init engine (profile, create kv cache, warmup model) took 33.61 seconds",
  "(APIServer pid=1) INFO 10-21 09:11:17 [loggers.py:147] Engine 000: vllm cache_config_info with initialization after num_gpu_blocks is: 155206",
  "(APIServer pid=1) INFO 10-21 09:11:17 [api_server.py:1634] Supported_tasks: ['generate']",
  "(APIServer pid=1) WARNING 10-21 09:11:17 [model.py:1389] Default sampling parameters have been overridden by the model's Hugging Face generation config recommended from the model creator. If this is not intended, please relaunch vLLM instance with `--generation-config vllm`.",
  "(APIServer pid=1) INFO 10-21 09:11:17 [serving_chat.py:139] Using default chat sampling params from model: {'repetition_penalty': 1.1, 'temperature': 0.7, 'top_k': 20, 'top_p': 0.8}",
  "(APIServer pid=1) INFO 10-21 09:11:17 [serving_completion.py:76] Using default completion sampling params from model: {'repetition_penalty': 1.1, 'temperature': 0.7, 'top_k': 20, 'top_p': 0.8}",
  "(APIServer pid=1) INFO 10-21 09:11:17 [api_server.py:1912] Starting vLLM API server 0 on http://0.0.0.0:8000",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:34] Available routes are:",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /openapi.json, Methods: HEAD, GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /docs, Methods: HEAD, GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /health, Methods: GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /load, Methods: GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /tokenize, Methods: POST",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /detokenize, Methods: POST",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /v1/models, Methods: GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /version, Methods: GET",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /v1/chat/completions, Methods: POST",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /v1/completions, Methods: POST",
  "(APIServer pid=1) INFO 10-21 09:11:17 [launcher.py:42] Route: /metrics, Methods: GET",
  "(APIServer pid=1) INFO:     Started server process [1]",
  "(APIServer pid=1) INFO:     Waiting for application startup.",
  "(APIServer pid=1) INFO:     Application startup complete.",
];

export const BAD_REPO_TAIL: readonly string[] = [
  "(APIServer pid=1) Traceback (most recent call last):",
  "(APIServer pid=1)   File \"/usr/local/lib/python3.12/dist-packages/huggingface_hub/utils/_http.py\", line 409, in hf_raise_for_status",
  "(APIServer pid=1)     response.raise_for_status()",
  "(APIServer pid=1)   File \"/usr/local/lib/python3.12/dist-packages/requests/models.py\", line 1026, in raise_for_status",
  "(APIServer pid=1)     raise HTTPError(http_error_msg, response=self)",
  "(APIServer pid=1) requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://huggingface.co/{model}/resolve/main/config.json",
  "(APIServer pid=1) ",
  "(APIServer pid=1) The above exception was the direct cause of the following exception:",
  "(APIServer pid=1) ",
  "(APIServer pid=1) Traceback (most recent call last):",
  "(APIServer pid=1)   File \"/usr/local/lib/python3.12/dist-packages/huggingface_hub/utils/_http.py\", line 453, in hf_raise_for_status",
  "(APIServer pid=1)     raise _format(RepositoryNotFoundError, message, response) from e",
  "(APIServer pid=1) huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-69aa2f15-66396d560525c0fb463d8d99;dfa35b92-3bf1-4a7a-bf57-d4c1d6d4ae69)",
  "(APIServer pid=1) ",
  "(APIServer pid=1) Repository Not Found for url: https://huggingface.co/{model}/resolve/main/config.json.",
  "(APIServer pid=1) Please make sure you specified the correct `repo_id` and `repo_type`.",
  "(APIServer pid=1) If you are trying to access a private or gated repo, make sure you are authenticated. For more details, see https://huggingface.co/docs/huggingface_hub/authentication",
  "(APIServer pid=1) Invalid username or password.",
  "(APIServer pid=1) ",
  "(APIServer pid=1) The above exception was the direct cause of the following exception:",
  "(APIServer pid=1) ",
  "(APIServer pid=1) Traceback (most recent call last):",
  "(APIServer pid=1)   File \"/usr/local/bin/vllm\", line 10, in <module>",
  "(APIServer pid=1)     sys.exit(main())",
  "(APIServer pid=1)              ^^^^^^",
  "(APIServer pid=1)   File \"/usr/local/lib/python3.12/dist-packages/vllm/entrypoints/cli/main.py\", line 73, in main",
  "(APIServer pid=1)     args.dispatch_function(args)",
  "(APIServer pid=1) ValueError: Invalid repository ID or local directory specified: '{model}'.",
  "(APIServer pid=1) Please verify the following requirements:",
  "(APIServer pid=1) 1. Provide a valid Hugging Face repository ID.",
  "(APIServer pid=1) 2. Specify a local directory that contains a recognized configuration file.",
  "(APIServer pid=1)    - For Hugging Face models: ensure the presence of a 'config.json'.",
  "(APIServer pid=1)    - For Mistral models: ensure the presence of a 'params.json'.",
];

export const NO_PLATFORM: readonly string[] = [
  "INFO 05-14 04:44:35 [__init__.py:243] No platform detected, vLLM is running on UnspecifiedPlatform",
  "INFO 05-14 04:44:37 [api_server.py:1043] vLLM API server version 0.8.5.post1",
  "INFO 05-14 04:44:37 [api_server.py:1044] args: Namespace(host='0.0.0.0', port=8000, uvicorn_log_level='info', model='{model}', max_model_len={max_len_arg}, gpu_memory_utilization=0.9, tensor_parallel_size=1, device='auto')",
  "INFO 05-14 04:44:45 [config.py:717] This model supports multiple tasks: {'reward', 'embed', 'classify', 'generate', 'score'}. Defaulting to 'generate'.",
  "Traceback (most recent call last):",
  "  File \"/usr/local/bin/vllm\", line 10, in <module>",
  "    sys.exit(main())",
  "             ^^^^^^",
  "  File \"/usr/local/lib/python3.12/dist-packages/vllm/entrypoints/cli/main.py\", line 53, in main",
  "    args.dispatch_function(args)",
  "  File \"/usr/local/lib/python3.12/dist-packages/vllm/entrypoints/cli/serve.py\", line 27, in cmd",
  "    uvloop.run(run_server(args))",
  "  File \"/usr/local/lib/python3.12/dist-packages/vllm/engine/arg_utils.py\", line 1128, in create_engine_config",
  "    device_config = DeviceConfig(device=self.device)",
  "  File \"/usr/local/lib/python3.12/dist-packages/vllm/config.py\", line 2013, in __init__",
  "    raise RuntimeError(\"Failed to infer device type\")",
  "RuntimeError: Failed to infer device type",
];

export const OOM_TAIL: readonly string[] = [
  "Loading safetensors checkpoint shards:   0% Completed | 0/8 [00:00<?, ?it/s]",
  "Loading safetensors checkpoint shards:  75% Completed | 6/8 [00:05<00:01,  1.13it/s]",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708] EngineCore failed to start.",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708] Traceback (most recent call last):",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]   File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py\", line 699, in run_engine_core",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]     engine_core = EngineCoreProc(*args, **kwargs)",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]   File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py\", line 83, in __init__",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]     self.model_executor = executor_class(vllm_config)",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]   File \"/usr/local/lib/python3.12/dist-packages/vllm/model_executor/model_loader/default_loader.py\", line 264, in load_weights",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708]     loaded_weights = model.load_weights(self.get_all_weights(model_config, model))",
  "(EngineCore_DP0 pid=187) ERROR 10-21 09:15:52 [core.py:708] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB. GPU 0 has a total capacity of {total_gib} GiB of which 738.19 MiB is free. Including non-PyTorch memory, this process has {in_use_gib} GiB memory in use. Of the allocated memory {alloc_gib} GiB is allocated by PyTorch, and 8.53 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)",
  "(EngineCore_DP0 pid=187) Process EngineCore_DP0:",
  "(EngineCore_DP0 pid=187) Traceback (most recent call last):",
  "(EngineCore_DP0 pid=187)   File \"/usr/lib/python3.12/multiprocessing/process.py\", line 314, in _bootstrap",
  "(EngineCore_DP0 pid=187)     self.run()",
  "(EngineCore_DP0 pid=187) torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB. GPU 0 has a total capacity of {total_gib} GiB of which 738.19 MiB is free. Including non-PyTorch memory, this process has {in_use_gib} GiB memory in use. Of the allocated memory {alloc_gib} GiB is allocated by PyTorch, and 8.53 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)",
  "(APIServer pid=1) Traceback (most recent call last):",
  "(APIServer pid=1)   File \"/usr/local/bin/vllm\", line 10, in <module>",
  "(APIServer pid=1)     sys.exit(main())",
  "(APIServer pid=1)              ^^^^^^",
  "(APIServer pid=1)   File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/utils.py\", line 799, in wait_for_engine_startup",
  "(APIServer pid=1)     raise RuntimeError(",
  "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
];

export const KV_TAIL: readonly string[] = [
  "(EngineCore_DP0 pid=187) INFO 10-21 00:34:58 [gpu_worker.py:298] Available KV cache memory: {kv_gib} GiB",
  "(EngineCore_DP0 pid=187) ERROR 10-21 00:35:03 [core.py:708] EngineCore failed to start.",
  "(EngineCore_DP0 pid=187) ERROR 10-21 00:35:03 [core.py:708] Traceback (most recent call last):",
  "(EngineCore_DP0 pid=187) ERROR 10-21 00:35:03 [core.py:708]   File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/core/kv_cache_utils.py\", line 686, in check_enough_kv_cache_memory",
  "(EngineCore_DP0 pid=187) ERROR 10-21 00:35:03 [core.py:708]     raise ValueError(",
  "(EngineCore_DP0 pid=187) ERROR 10-21 00:35:03 [core.py:708] ValueError: To serve at least one request with the models's max seq len ({max_len}), ({kv_needed_gib} GiB KV cache is needed, which is larger than the available KV cache memory ({kv_gib} GiB). Based on the available memory, the estimated maximum model length is {kv_max_len}. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.",
  "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
];

const EC = '(EngineCore_DP0 pid=187) ERROR 10-21 09:10:22 [core.py:708]';
const ENGINE_INIT_FAILED = '(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}';

/** torch sees the driver but no device (GPU off the bus): EngineCore dies at device init. */
export const CUDA_NO_GPUS_TAIL: readonly string[] = [
  `${EC} EngineCore failed to start.`,
  `${EC} Traceback (most recent call last):`,
  `${EC}   File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", line 699, in run_engine_core`,
  `${EC}     engine_core = EngineCoreProc(*args, **kwargs)`,
  `${EC}   File "/usr/local/lib/python3.12/dist-packages/vllm/v1/worker/gpu_worker.py", line 169, in init_device`,
  `${EC}     torch.cuda.set_device(self.device)`,
  `${EC}   File "/usr/local/lib/python3.12/dist-packages/torch/cuda/__init__.py", line 372, in _lazy_init`,
  `${EC}     torch._C._cuda_init()`,
  `${EC} RuntimeError: No CUDA GPUs are available`,
  '(APIServer pid=1) Traceback (most recent call last):',
  '(APIServer pid=1)   File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/utils.py", line 799, in wait_for_engine_startup',
  '(APIServer pid=1)     raise RuntimeError(',
  ENGINE_INIT_FAILED,
];

const ED = '(EngineCore_DP0 pid=187) ERROR 10-21 09:20:41 [core.py:790]';
const AD = '(APIServer pid=1) ERROR 10-21 09:20:41 [async_llm.py:480]';

/** The engine core dies while serving; the API server reports EngineDeadError. */
export const ENGINE_DEAD: readonly string[] = [
  `${ED} EngineCore encountered a fatal error.`,
  `${ED} Traceback (most recent call last):`,
  `${ED}   File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", line 781, in run_engine_core`,
  `${ED}     engine_core.run_busy_loop()`,
  `${ED} RuntimeError: CUDA error: an illegal memory access was encountered`,
  `${AD} AsyncLLM output_handler failed.`,
  `${AD} Traceback (most recent call last):`,
  `${AD}   File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/async_llm.py", line 439, in output_handler`,
  `${AD}     outputs = await engine_core.get_output_async()`,
  `${AD} vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause.`,
];

/** uvicorn's shutdown once vLLM's watchdog stops the server after engine death. */
export const SHUTDOWN: readonly string[] = [
  '(APIServer pid=1) INFO:     Shutting down',
  '(APIServer pid=1) INFO:     Waiting for application shutdown.',
  '(APIServer pid=1) INFO:     Application shutdown complete.',
  '(APIServer pid=1) INFO:     Finished server process [1]',
];

const STAMP = /\b(INFO|WARNING|ERROR|DEBUG) (\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\b/;

/** Replaces the `{name}` placeholders that `vars` knows; other braces (Python dicts) stay. */
export function fill(line: string, vars: LogVars): string {
  return line.replace(/\{([a-z_]+)\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** Rewrites a line's vLLM timestamp (`MM-DD HH:MM:SS`, UTC like a container) to `now`. */
export function stamp(line: string, now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const when = `${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())} ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}`;
  return line.replace(STAMP, (_whole, level: string) => `${level} ${when}`);
}

/** Places lines on a timeline from their own timestamps (seconds after the first); untimed lines keep the previous time. */
export function timeline(lines: readonly string[], startAt = 0): TimedLine[] {
  let first: number | undefined;
  let t = startAt;
  return lines.map((text) => {
    const m = STAMP.exec(text);
    if (m !== null) {
      const [h, min, s] = [Number(m[4]), Number(m[5]), Number(m[6])];
      const secs = h * 3600 + min * 60 + s;
      first ??= secs;
      t = startAt + secs - first;
    }
    return { t, text };
  });
}

/** Index of the first template line containing `marker` (templates are fixed, so a miss is a defect). */
export function lineIndex(lines: readonly string[], marker: string): number {
  const at = lines.findIndex((l) => l.includes(marker));
  if (at < 0) throw new Error(`log template has no line with ${JSON.stringify(marker)}`);
  return at;
}

/** huggingface_hub's tqdm lines while `model.safetensors` downloads, `count` of them across [from, to]. */
export function downloadProgress(totalGb: number, from: number, to: number, count: number): TimedLine[] {
  const lines: TimedLine[] = [];
  const span = Math.max(1, to - from);
  for (let k = 1; k <= count; k++) {
    const frac = k / (count + 1);
    const pct = Math.round(frac * 100);
    const bar = '█'.repeat(Math.floor(pct / 10)).padEnd(10, ' ');
    const done = totalGb * frac;
    const elapsed = Math.round(span * frac);
    const left = Math.round(span - span * frac);
    const rate = Math.round((done * 1024) / Math.max(1, elapsed));
    const size = done < 1 ? `${Math.round(done * 1000)}M` : `${done.toFixed(2)}G`;
    const secs = (n: number): string => `00:${String(n).padStart(2, '0')}`;
    lines.push({ t: from + span * frac, text: `model.safetensors: ${String(pct).padStart(3)}%|${bar}| ${size}/${totalGb.toFixed(2)}G [${secs(elapsed)}<${secs(left)}, ${rate}MB/s]` });
  }
  return lines;
}
