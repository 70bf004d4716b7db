import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sumSamples } from '../../../src/engines/prometheus-text.js';

const SCRAPE = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-1.5B-Instruct"} 3.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen2.5-1.5B-Instruct"} 2.0
vllm:num_requests_waiting{model_name="a \\"quoted\\" name, with comma"} 4.0
vllm:gpu_cache_usage_perc{model_name="m"} 0.25 1712345678000
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="+Inf"} 7.0
process_open_fds 12
broken line here
`;

describe('prometheus text - parsing', () => {
  it('prometheus text - samples keep names, labels and values; comments and junk are skipped', () => {
    const samples = parsePrometheusText(SCRAPE);
    expect(samples.map((s) => s.name)).toEqual([
      'vllm:num_requests_running',
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:gpu_cache_usage_perc',
      'vllm:time_to_first_token_seconds_bucket',
      'process_open_fds',
    ]);
    expect(samples[2]?.labels).toEqual({ model_name: 'a "quoted" name, with comma' });
    expect(samples[4]?.labels.le).toBe('+Inf');
    expect(samples[3]?.value).toBe(0.25);
  });

  it('prometheus text - sums over label sets; a missing metric is undefined', () => {
    const samples = parsePrometheusText(SCRAPE);
    expect(sumSamples(samples, 'vllm:num_requests_running')).toBe(5);
    expect(sumSamples(samples, 'vllm:kv_cache_usage_perc')).toBeUndefined();
  });
});
