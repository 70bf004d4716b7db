import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sumMetrics, sumSamples } from '../../../src/engines/prometheus-text.js';

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

describe('prometheus text - reading only the named metrics', () => {
  const NAMES = ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc'] as const;
  const viaParse = (text: string): Record<string, number | undefined> =>
    Object.fromEntries(NAMES.map((name) => [name, sumSamples(parsePrometheusText(text), name)]));

  it('prometheus text - sumMetrics sums the named metrics like a full parse does', () => {
    expect(sumMetrics(SCRAPE, NAMES)).toEqual({ 'vllm:num_requests_running': 5, 'vllm:num_requests_waiting': 4, 'vllm:kv_cache_usage_perc': undefined });
    expect(sumMetrics(SCRAPE, NAMES)).toEqual(viaParse(SCRAPE));
  });

  it('property: for any scrape, sumMetrics equals the sum over a full parse (comments, other metrics, bad lines, labels naming the metric)', () => {
    const name = fc.constantFrom(...NAMES, 'vllm:num_requests_running_total', 'xvllm:num_requests_waiting', 'process_open_fds');
    const labels = fc.constantFrom('', '{engine="0"}', '{a="vllm:num_requests_running 7"}', '{model_name="m",engine="1"}', '{bad', '{a="\\"x\\""}');
    const value = fc.constantFrom('1.0', '2', '-3.5', '0.25', 'NaN', '+Inf', 'abc', '1e3');
    const sample = fc.tuple(fc.constantFrom('', '  ', '\t'), name, labels, value, fc.constantFrom('', ' 1712345678000', '\r')).map(([pad, n, l, v, end]) => `${pad}${n}${l} ${v}${end}`);
    const comment = fc.tuple(fc.constantFrom('# HELP ', '# TYPE ', '#'), name).map(([c, n]) => `${c}${n} gauge`);
    const junk = fc.constantFrom('', 'broken line here', 'vllm:num_requests_running', ' vllm:num_requests_waiting{} 3 4 5');
    fc.assert(
      fc.property(fc.array(fc.oneof(sample, comment, junk), { maxLength: 30 }), (lines) => {
        const text = lines.join('\n');
        expect(sumMetrics(text, NAMES)).toEqual(viaParse(text));
      }),
    );
  });
});
