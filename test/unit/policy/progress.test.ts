import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { READINESS_STAGES, type ProbeResult } from '../../../src/protocols/index.js';
import {
  PROGRESS_MARKERS,
  STAGE_ORDER,
  TAIL_FINGERPRINT_LINES,
  assessProgress,
  extractMarkers,
  linesAfter,
  type ProgressState,
} from '../../../src/policy/progress.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const fixture = (name: string): string => readFileSync(FIXTURES + name, 'utf8');
const STARTUP = fixture('vllm_startup.log');

function gpuProbe(stdout: string): ProbeResult {
  return { name: 'gpu', command: 'nvidia-smi --query-gpu=…', ok: true, transport_ok: true, stdout, stderr: '', duration_ms: 40 };
}

describe('extractMarkers', () => {
  it('progress - the healthy startup log shows every marker, in the canonical order', () => {
    expect(extractMarkers(STARTUP)).toEqual([...PROGRESS_MARKERS]);
  });

  it('progress - a failed startup stops at the marker it reached', () => {
    expect(extractMarkers(fixture('vllm_fail_oom.log'))).toEqual(['platform_detected', 'api_server_started', 'engine_init', 'model_loading', 'weights_downloading']);
    expect(extractMarkers(fixture('vllm_fail_no_gpu.log'))).toEqual(['api_server_started']);
    expect(extractMarkers('')).toEqual([]);
  });

  it('progress - the stage order is the protocol one', () => {
    expect([...STAGE_ORDER]).toEqual([...READINESS_STAGES]);
  });
});

describe('assessProgress', () => {
  it('progress - replaying the startup log line by line reveals the markers in order', () => {
    const lines = STARTUP.split('\n');
    let state: ProgressState | undefined;
    const revealed: string[] = [];
    for (let i = 1; i <= lines.length; i++) {
      const r = assessProgress(state, { at: i * 1000, stage: 'port_bound', logTail: lines.slice(0, i).join('\n') });
      revealed.push(...r.newMarkers);
      // Every non-empty line is new output, so every step with a meaningful new line is progress.
      const line = lines[i - 1]!.replace(/^\([^)]*pid=\d+\)/, '').trim();
      if (line !== '' && !line.includes('"GET /health')) expect(r.progressed, `line ${i}`).toBe(true);
      else if (i > 1) expect(r.progressed, `line ${i}`).toBe(false);
      state = r.state;
    }
    expect(revealed).toEqual([...PROGRESS_MARKERS]);
    expect(state!.markers).toEqual([...PROGRESS_MARKERS]);
  });

  it('progress - the same tail twice is no progress', () => {
    const first = assessProgress(undefined, { at: 1, stage: 'port_bound', logTail: STARTUP });
    expect(first.progressed).toBe(true);
    const again = assessProgress(first.state, { at: 2, stage: 'port_bound', logTail: STARTUP });
    expect(again.progressed).toBe(false);
    expect(again.newMarkers).toEqual([]);
    expect(again.state.lastProgressAt).toBe(1);
  });

  it('progress - a changing nvidia-smi (or ps) observation alone is no progress', () => {
    const tail = STARTUP.split('\n').slice(0, 20).join('\n');
    let r = assessProgress(undefined, { at: 0, stage: 'port_bound', logTail: tail, probes: [gpuProbe(fixture('nvidia_smi_query_ok.txt'))] });
    const outputs = [fixture('nvidia_smi_query_busy.txt'), fixture('nvidia_smi_query_ok.txt'), 'NVIDIA H100 80GB HBM3, 81559, 12000, 55, 48\n'];
    for (let i = 0; i < outputs.length; i++) {
      const ps: ProbeResult = { ...gpuProbe(`root ${1000 + i} python -m vllm serve`), name: 'processes', command: 'ps -ef' };
      r = assessProgress(r.state, { at: (i + 1) * 1000, stage: 'port_bound', logTail: tail, probes: [gpuProbe(outputs[i]!), ps] });
      expect(r.progressed).toBe(false);
    }
    // Without a log read at all, the fingerprint is kept and nothing counts.
    r = assessProgress(r.state, { at: 9000, stage: 'port_bound', probes: [gpuProbe('different')] });
    expect(r.progressed).toBe(false);
    expect(r.state.lastProgressAt).toBe(0);
  });

  it('progress - access-log lines from our own /health probes and the hang warning are not progress', () => {
    const base = STARTUP.split('\n').slice(0, 30).join('\n');
    let r = assessProgress(undefined, { at: 0, stage: 'port_bound', logTail: base });
    const noise = [
      '(APIServer pid=1) INFO:     127.0.0.1:41536 - "GET /health HTTP/1.1" 200 OK',
      '(EngineCore_DP0 pid=187) INFO 10-21 09:20:00 [shm_broadcast.py:466] No available shared memory broadcast block found in 60 second.',
      '(APIServer pid=1) INFO 10-21 09:21:00 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 0.0 tokens/s, Running: 0 reqs',
      '',
    ];
    let tail = base;
    for (let i = 0; i < noise.length; i++) {
      tail += `\n${noise[i]}`;
      r = assessProgress(r.state, { at: i + 1, stage: 'port_bound', logTail: tail });
      expect(r.progressed).toBe(false);
    }
    r = assessProgress(r.state, { at: 10, stage: 'port_bound', logTail: `${tail}\n(EngineCore_DP0 pid=187) INFO real new line` });
    expect(r.progressed).toBe(true);
    expect(r.state.lastProgressAt).toBe(10);
  });

  it('progress - a sliding tail window with only noise added is no progress', () => {
    const lines = STARTUP.split('\n').slice(0, 12);
    const prev = assessProgress(undefined, { at: 0, stage: 'port_bound', logTail: lines.join('\n') });
    const slid = [...lines.slice(3), '(APIServer pid=1) INFO:     127.0.0.1:1 - "GET /health HTTP/1.1" 200 OK'];
    expect(assessProgress(prev.state, { at: 1, stage: 'port_bound', logTail: slid.join('\n') }).progressed).toBe(false);
    const grown = [...lines.slice(3), '(EngineCore_DP0 pid=187) INFO new'];
    expect(assessProgress(prev.state, { at: 1, stage: 'port_bound', logTail: grown.join('\n') }).progressed).toBe(true);
  });

  it('progress - a stage closer to ready is progress, an adapter marker too', () => {
    const a = assessProgress(undefined, { at: 0, stage: 'engine_process' });
    const b = assessProgress(a.state, { at: 5, stage: 'port_bound' });
    expect(b.progressed).toBe(true);
    expect(b.state.bestStage).toBe('port_bound');
    const back = assessProgress(b.state, { at: 6, stage: 'engine_process' });
    expect(back.progressed).toBe(false);
    expect(back.state.bestStage).toBe('port_bound');
    const m = assessProgress(back.state, { at: 7, stage: 'port_bound', markers: ['port_bound'] });
    expect(m.progressed).toBe(true);
    expect(m.newMarkers).toEqual(['port_bound']);
    expect(assessProgress(m.state, { at: 8, stage: 'port_bound', markers: ['port_bound'] }).progressed).toBe(false);
  });

  it('progress - the fingerprint stays bounded', () => {
    const r = assessProgress(undefined, { at: 0, stage: 'port_bound', logTail: STARTUP });
    expect(r.state.tailFingerprint.length).toBeLessThanOrEqual(TAIL_FINGERPRINT_LINES);
  });
});

describe('linesAfter', () => {
  it('linesAfter - repeated identical lines are not mistaken for old ones', () => {
    expect(linesAfter(['a', 'x'], ['a', 'x', 'x'])).toEqual(['x']);
    expect(linesAfter(['a', 'x'], ['a', 'x'])).toEqual([]);
    expect(linesAfter(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(linesAfter([], ['c'])).toEqual(['c']);
  });

  it('linesAfter - appending lines to a tail always yields exactly those lines (property)', () => {
    const line = fc.stringMatching(/^[a-c]{1,2}$/);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), fc.array(line, { maxLength: 10 }), (old, added) => {
        const prev = old.slice(-TAIL_FINGERPRINT_LINES);
        const got = linesAfter(prev, [...old, ...added]);
        // With repeated short lines the overlap can be ambiguous; what is certain is that nothing is
        // reported when nothing was added, and never more than what was added when it was.
        if (added.length === 0) expect(got).toEqual([]);
        expect(got.length).toBeLessThanOrEqual(added.length);
        expect([...old, ...added].slice(old.length + added.length - got.length)).toEqual(got);
      }),
    );
  });
});
