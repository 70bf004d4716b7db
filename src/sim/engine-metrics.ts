/**
 * The simulated engine's Prometheus `/metrics`, with vLLM V1 names, HELP texts and label sets
 * (vllm-api.md §5). Values are printed like Python floats (`2.0`), as prometheus_client does.
 */

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** Why a request finished, as vLLM labels `request_success_total`. */
export type FinishedReason = 'stop' | 'length' | 'abort';

/** Content type of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      const bound = this.buckets[i];
      if (bound !== undefined && value <= bound) this.counts[i] = (this.counts[i] ?? 0) + 1;
    }
  }

  render(name: string, labels: string, out: string[]): void {
    for (let i = 0; i < this.buckets.length; i++) {
      out.push(`${name}_bucket{${labels},le="${pyFloat(this.buckets[i] ?? 0)}"} ${pyFloat(this.counts[i] ?? 0)}`);
    }
    out.push(`${name}_bucket{${labels},le="+Inf"} ${pyFloat(this.count)}`);
    out.push(`${name}_count{${labels}} ${pyFloat(this.count)}`);
    out.push(`${name}_sum{${labels}} ${pyFloat(this.sum)}`);
  }
}

/** Counters and histograms of one simulated engine. */
export class SimEngineMetrics {
  private promptTokens = 0;
  private generationTokens = 0;
  private readonly finished: Record<FinishedReason, number> = { stop: 0, length: 0, abort: 0 };
  private readonly ttft = new Histogram(TTFT_BUCKETS);
  private readonly e2e = new Histogram(E2E_BUCKETS);
  private readonly labels: string;

  constructor(model: string) {
    this.labels = `engine="0",model_name="${escapeLabel(model)}"`;
  }

  /** Tokens generated so far. */
  get generatedTokens(): number {
    return this.generationTokens;
  }

  /** A request was prefilled (its prompt tokens count as processed). */
  recordPrefill(promptTokens: number, ttftSeconds: number): void {
    this.promptTokens += promptTokens;
    this.ttft.observe(ttftSeconds);
  }

  /** `count` tokens were generated. */
  recordTokens(count: number): void {
    this.generationTokens += count;
  }

  /** A request left the engine. */
  recordFinished(reason: FinishedReason, e2eSeconds: number): void {
    this.finished[reason]++;
    this.e2e.observe(e2eSeconds);
  }

  /** The exposition text for the current state. */
  render(load: { running: number; waiting: number; maxRunning: number }): string {
    const l = this.labels;
    const out: string[] = [];
    const gauge = (name: string, help: string, value: number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}{${l}} ${pyFloat(value)}`);
    };
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', load.running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', load.waiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', load.running / load.maxRunning);
    out.push('# HELP vllm:prompt_tokens_total Number of prefill tokens processed.', '# TYPE vllm:prompt_tokens_total counter');
    out.push(`vllm:prompt_tokens_total{${l}} ${pyFloat(this.promptTokens)}`);
    out.push('# HELP vllm:generation_tokens_total Number of generation tokens processed.', '# TYPE vllm:generation_tokens_total counter');
    out.push(`vllm:generation_tokens_total{${l}} ${pyFloat(this.generationTokens)}`);
    out.push('# HELP vllm:request_success_total Count of successfully processed requests.', '# TYPE vllm:request_success_total counter');
    for (const reason of ['stop', 'length', 'abort'] as const) {
      out.push(`vllm:request_success_total{${l},finished_reason="${reason}"} ${pyFloat(this.finished[reason])}`);
    }
    out.push('# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.', '# TYPE vllm:time_to_first_token_seconds histogram');
    this.ttft.render('vllm:time_to_first_token_seconds', l, out);
    out.push('# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.', '# TYPE vllm:e2e_request_latency_seconds histogram');
    this.e2e.render('vllm:e2e_request_latency_seconds', l, out);
    return `${out.join('\n')}\n`;
  }
}

/** Python's float repr for the values we print: integers get `.0`. */
function pyFloat(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
