import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../../src/protocols/index.js';
import {
  curlPostJsonCommand,
  curlStatusCommand,
  httpStatusOf,
  localUrl,
  logTailRequest,
  parseGpuRows,
  processCheck,
} from '../../../src/probes/readiness/checks.js';
import { llamaModelMatches } from '../../../src/probes/readiness/llamacpp.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', name), 'utf8');

function result(over: Partial<ProbeResult>): ProbeResult {
  return { name: 'p', command: 'c', ok: true, transport_ok: true, exit_code: 0, stdout: '', stderr: '', duration_ms: 1, ...over };
}

describe('probe checks', () => {
  it('probe checks - parses the nvidia-smi query rows of the fixtures', () => {
    expect(parseGpuRows(fixture('nvidia_smi_query_ok.txt'))).toEqual([
      { name: 'NVIDIA H100 80GB HBM3', memoryTotalMiB: 81559, memoryUsedMiB: 0, utilizationPct: 0, temperatureC: 31 },
    ]);
    expect(parseGpuRows(fixture('nvidia_smi_query_busy.txt'))).toHaveLength(1);
    for (const f of ['nvidia_smi_fail_driver.txt', 'nvidia_smi_fail_handle.txt', 'nvidia_smi_fail_nvml.txt']) expect(parseGpuRows(fixture(f))).toEqual([]);
  });

  it('probe checks - a GPU row with N/A values is well-formed, one with an error value is not', () => {
    const out = [
      'NVIDIA A100-SXM4-80GB, 81920, [N/A], [Not Supported], 33',
      'NVIDIA A100-SXM4-80GB, 81920, 4, [Unknown Error], 33',
      'NVIDIA A100-SXM4-80GB, [GPU requires reset], 4, 0, 33',
      'Unable to determine the device handle for GPU1: 0000:34:00.0: Unknown Error',
      '',
    ].join('\n');
    expect(parseGpuRows(out)).toEqual([{ name: 'NVIDIA A100-SXM4-80GB', memoryTotalMiB: 81920, memoryUsedMiB: undefined, utilizationPct: undefined, temperatureC: 33 }]);
  });

  it('probe checks - the HTTP status probe reads 000 (nothing listening) as no status', () => {
    expect(httpStatusOf(result({ stdout: '200' }))).toBe(200);
    expect(httpStatusOf(result({ stdout: '000' }))).toBeUndefined();
    expect(httpStatusOf(result({ ok: false, transport_ok: false, failure_kind: 'transport', stdout: '' }))).toBeUndefined();
    expect(curlStatusCommand('http://127.0.0.1:8000/health')).toBe(
      "curl -sS -o /dev/null -w '%{http_code}' --max-time 8 'http://127.0.0.1:8000/health' || true",
    );
  });

  it('probe checks - user text reaches commands only quoted', () => {
    expect(curlPostJsonCommand('http://127.0.0.1:1/x', { model: "it's $(x)" })).toBe(
      `printf '%s' '{"model":"it'\\''s $(x)"}' | curl -fsS --max-time 28 -H 'Content-Type: application/json' --data-binary @- 'http://127.0.0.1:1/x'`,
    );
    expect(logTailRequest("/tmp/a b's.log").command).toBe("tail -c 16384 '/tmp/a b'\\''s.log' 2>/dev/null || true");
    expect(processCheck('vllm|api_server').request.command).toBe("ps -eo pid,args | grep -E 'vllm|api_server' | grep -v grep");
  });

  it('probe checks - a port that is not a TCP port is refused', () => {
    expect(localUrl(8000, '/health')).toBe('http://127.0.0.1:8000/health');
    for (const bad of [0, -1, 65_536, 80.5, Number.NaN]) expect(() => localUrl(bad, '/')).toThrow(RangeError);
  });

  it('probe checks - llama.cpp model ids match by alias, path or file name', () => {
    expect(llamaModelMatches('qwen', 'qwen')).toBe(true);
    expect(llamaModelMatches('/models/qwen-q4.gguf', 'qwen-q4')).toBe(true);
    expect(llamaModelMatches('/models/qwen-q4.gguf', 'qwen-q4.gguf')).toBe(true);
    expect(llamaModelMatches('/models/qwen-q4.gguf', 'qwen')).toBe(false);
  });
});
