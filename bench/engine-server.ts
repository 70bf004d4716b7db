/**
 * Runs one simulated vLLM engine as its own process for benchmarks. Options come as one JSON
 * argument (`SimEngineOptions`, e.g. `{"model":"m","tokensPerSec":50,"maxNumSeqs":1024}`); it
 * prints `{"url":"http://127.0.0.1:PORT"}` on one line once it listens and stops on SIGTERM/SIGINT.
 */
import { startSimEngine, type SimEngineOptions } from '../src/sim/index.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as SimEngineOptions;
  if (typeof opts.model !== 'string') throw new Error('engine-server: a JSON argument with "model" is required');
  const engine = await startSimEngine(opts);
  process.stdout.write(`${JSON.stringify({ url: engine.url, pid: process.pid })}\n`);
  const stop = (): void => {
    void engine.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`engine-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
