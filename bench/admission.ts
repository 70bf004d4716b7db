/**
 * Admission suite: tasks per second Drover accepts, and completes end to end, when the engine
 * answers one token at once. Drover runs as its own `bin/drover up` process (two in-process sim
 * engines, `ttft_ms: 0`, `tokens_per_s: 0`, 1,024 sequences each, a queue large enough never to
 * reject); the load comes from `bench/admission-load.ts` in another process: a closed loop of C
 * workers POSTing `max_tokens: 1` (mode `complete` also reads the SSE stream until `end`).
 *
 * The completed phase runs first so that the accepted phase's backlog cannot slow it down.
 * Knobs: `BENCH_ADMISSION_CONCURRENCY` (default 64), `BENCH_ADMISSION_DURATION_MS` (default 5,000
 * quick / 15,000 full, after a 1 s warm-up).
 */
import { join } from 'node:path';
import type { BenchOptions, BenchRow, BenchSuite } from './types.js';
import type { LoadResult } from './admission-load.js';
import { childPids, envInt, halfSpread, procName, procUsage, round, sleep, spawnChild, startDrover, tail, type DroverChild } from './lib.js';

const TARGET_TASKS_PER_S = 3_000;

async function runLoad(opts: BenchOptions, url: string, mode: 'accept' | 'complete', concurrency: number, durationMs: number): Promise<LoadResult> {
  const c = spawnChild(process.execPath, ['--import', 'tsx', join(opts.root, 'bench/admission-load.ts')], {
    cwd: opts.root,
    env: { LOAD_URL: url, LOAD_MODE: mode, LOAD_CONCURRENCY: String(concurrency), LOAD_DURATION_MS: String(durationMs), LOAD_WARMUP_MS: '1000' },
  });
  const timer = setTimeout(() => c.child.kill('SIGKILL'), durationMs + 60_000);
  const code = await c.exited;
  clearTimeout(timer);
  const line = c.output().split('\n').find((l) => l.startsWith('{"mode"'));
  if (code !== 0 || line === undefined) throw new Error(`load generator (${mode}) exited ${String(code)}: ${tail(c.output())}`);
  return JSON.parse(line) as LoadResult;
}

/** Accepted and completed tasks/s and POST latency, Drover with instant sim engines. */
export const admissionSuite: BenchSuite = async (opts: BenchOptions): Promise<BenchRow[]> => {
  const concurrency = envInt('BENCH_ADMISSION_CONCURRENCY', 64);
  const durationMs = envInt('BENCH_ADMISSION_DURATION_MS', opts.quick ? 5_000 : 15_000);
  const base = `max_tokens 1, 2 sim engines (ttft 0, 1,024 seqs), closed loop C=${concurrency}, ${durationMs / 1_000} s; load generator on the same host`;
  const rows: BenchRow[] = [];
  let drover: DroverChild | undefined;
  try {
    drover = await startDrover(opts.root, opts.workDir, {
      pools: [],
      sim: { engines: 2, ttft_ms: 0, tokens_per_s: 0, max_num_seqs: 1_024 },
      admission: { capacity: 10_000_000 },
      log_level: 'warn',
    });
    const pid = drover.child.pid as number;
    // Both sim replicas ready before the load starts.
    const readyBy = Date.now() + 20_000;
    while (!(await fetch(`${drover.httpUrl}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > readyBy) throw new Error(`drover not ready after 20 s: ${tail(drover.output())}`);
      await sleep(100);
    }
    let natsPid: number | undefined;
    for (const c of await childPids(pid)) if ((await procName(c)) === 'nats-server') natsPid = c;
    for (const mode of ['complete', 'accept'] as const) {
      const workload = `${mode === 'accept' ? 'POST only' : 'POST + SSE until end'}, ${base}`;
      const metric = mode === 'accept' ? 'accepted tasks/s' : 'completed tasks/s';
      try {
        const before = await procUsage(pid);
        const natsBefore = natsPid === undefined ? undefined : await procUsage(natsPid);
        const t0 = performance.now();
        const r = await runLoad(opts, drover.httpUrl, mode, concurrency, durationMs);
        const after = await procUsage(pid);
        const natsAfter = natsPid === undefined ? undefined : await procUsage(natsPid);
        const wallS = (performance.now() - t0) / 1_000;
        const cpuPct = ((after.cpuS - before.cpuS) / wallS) * 100;
        const natsPct = natsBefore === undefined || natsAfter === undefined ? NaN : ((natsAfter.cpuS - natsBefore.cpuS) / wallS) * 100;
        const rate = r.tasks / r.window_s;
        const errs = Object.entries(r.errors);
        const errText = errs.length > 0 ? `; errors ${errs.map(([k, v]) => `${k}×${v}`).join(', ')}` : '';
        opts.log(`admission ${mode}: ${rate.toFixed(0)} tasks/s, POST p50 ${r.post_ms.p50.toFixed(2)} ms p99 ${r.post_ms.p99.toFixed(2)} ms, drover cpu ${cpuPct.toFixed(0)} %, nats-server cpu ${natsPct.toFixed(0)} %${errText}`);
        rows.push({
          suite: 'admission',
          workload: `${workload}${errText}`,
          contender: 'drover',
          metric,
          value: round(rate, 1),
          unit: 'tasks/s',
          samples: r.tasks,
          tolerance: round(halfSpread(r.per_second.slice(0, Math.floor(r.window_s))), 1),
          ...(mode === 'accept' ? { target: { text: `≥ ${TARGET_TASKS_PER_S.toLocaleString('en-US')} tasks/s on 2 cores`, met: rate >= TARGET_TASKS_PER_S } } : {}),
        });
        rows.push({ suite: 'admission', workload, contender: 'drover', metric: `POST latency p50 (${mode})`, value: round(r.post_ms.p50, 3), unit: 'ms', samples: r.post_ms.samples });
        rows.push({ suite: 'admission', workload, contender: 'drover', metric: `POST latency p99 (${mode})`, value: round(r.post_ms.p99, 3), unit: 'ms', samples: r.post_ms.samples });
        rows.push({ suite: 'admission', workload, contender: 'drover', metric: `drover process CPU (${mode}, whole load-gen run)`, value: round(cpuPct, 1), unit: '% of one core', samples: 1 });
        if (Number.isFinite(natsPct)) rows.push({ suite: 'admission', workload, contender: 'nats-server (embedded)', metric: `CPU (${mode})`, value: round(natsPct, 1), unit: '% of one core', samples: 1 });
      } catch (err) {
        rows.push({ suite: 'admission', workload, contender: 'drover', metric, value: NaN, unit: 'tasks/s', samples: 0, error: (err as Error).message });
      }
    }
  } catch (err) {
    rows.push({ suite: 'admission', workload: base, contender: 'drover', metric: 'accepted tasks/s', value: NaN, unit: 'tasks/s', samples: 0, error: (err as Error).message });
  } finally {
    await drover?.stop();
  }
  return rows;
};
