/**
 * Smoke test of the benchmark harness: the runner runs a suite, returns rows without errors and
 * writes `latest.json` and `latest.md`. No timing assertions — figures belong in bench/results.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../../bench/run.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('bench - harness smoke', () => {
  it('runs the placement suite and writes the results', async () => {
    const out = await mkdtemp(join(tmpdir(), 'drover-bench-smoke-'));
    dirs.push(out);
    const report = await runBench({ quick: true, suites: ['placement'], resultsDir: out, log: () => {} });
    expect(report.rows.length).toBeGreaterThan(0);
    expect(report.rows.filter((r) => r.error !== undefined)).toEqual([]);
    expect(report.rows.every((r) => r.suite === 'placement' && r.samples > 0 && Number.isFinite(r.value))).toBe(true);
    const json = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as { rows: unknown[]; machine: { node: string; cores: number } };
    expect(json.rows).toHaveLength(report.rows.length);
    expect(json.machine.node).toBe(process.version);
    expect(json.machine.cores).toBeGreaterThan(0);
    const md = await readFile(join(out, 'latest.md'), 'utf8');
    expect(md).toContain('| suite | workload | contender | metric |');
    expect(md).toContain(process.version);
  });
});
