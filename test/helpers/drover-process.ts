/**
 * Runs `bin/drover up` as a real child process (so a test can SIGKILL it) and reads its ready line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './drover.js';

export interface DroverProcess {
  child: ChildProcess;
  httpUrl: string;
  natsUrl: string;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Writes a config file for `drover up` into `dataDir`. */
export async function writeConfig(dataDir: string, config: Record<string, unknown>): Promise<string> {
  const file = join(dataDir, 'drover.json');
  await writeFile(file, JSON.stringify({ data_dir: dataDir, http: { host: '127.0.0.1', port: 0 }, nats: { port: -1, config_file: null }, ...config }));
  return file;
}

/** Starts `bin/drover up --config FILE` and waits for its ready line. */
export async function startDroverProcess(configFile: string, env: Record<string, string> = {}): Promise<DroverProcess> {
  const child = spawn(join(REPO_ROOT, 'bin/drover'), ['up', '--config', configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<{ http: string; nats: string }>((resolve, reject) => {
    const onData = (buf: Buffer): void => {
      out += buf.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('drover ready')) continue;
        try {
          const rec = JSON.parse(line) as { http: string; nats: string };
          resolve(rec);
        } catch {
          // not a JSON line yet
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    void exited.then((code) => reject(new Error(`drover exited (${code}) before it was ready:\n${out.slice(-4000)}`)));
    setTimeout(() => reject(new Error(`drover not ready after 30 s:\n${out.slice(-4000)}`)), 30_000).unref();
  });
  const { http, nats } = await ready;
  return { child, httpUrl: http, natsUrl: nats, output: () => out, exited };
}
