/**
 * `bin/drover` runs the compiled build only while it is current: a checkout whose sources changed
 * after the last `make build` runs the sources through tsx, never stale code. The script runs here
 * in a scratch root whose two entry points only say which one ran.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/drover.js';

const run = promisify(execFile);

let root: string;
const stamp = (): string => join(root, 'dist/.built');
const source = (): string => join(root, 'src/cli/main.ts');

async function entryThatRuns(): Promise<string> {
  const { stdout } = await run(join(root, 'bin/drover'), ['help'], { cwd: root });
  return stdout.trim();
}

/** Sets a file's modification time `secondsAgo` before now. */
async function age(file: string, secondsAgo: number): Promise<void> {
  const t = new Date(Date.now() - secondsAgo * 1_000);
  await utimes(file, t, t);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-bin-'));
  await mkdir(join(root, 'bin'));
  await copyFile(join(REPO_ROOT, 'bin/drover'), join(root, 'bin/drover'));
  await chmod(join(root, 'bin/drover'), 0o755);
  await symlink(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  await mkdir(join(root, 'src/cli'), { recursive: true });
  await writeFile(source(), "console.log(`sources ${process.argv.slice(2).join(' ')}`);\n");
  await mkdir(join(root, 'dist/cli'), { recursive: true });
  await writeFile(join(root, 'dist/cli/main.js'), "console.log(`build ${process.argv.slice(2).join(' ')}`);\n");
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bin/drover - which code it runs', () => {
  it('runs the sources when there is no finished build', async () => {
    await rm(stamp(), { force: true });
    expect(await entryThatRuns()).toBe('sources help');
  });

  it('runs the build when its stamp is newer than every source file', async () => {
    await writeFile(stamp(), '');
    await age(source(), 60);
    await age(stamp(), 30);
    expect(await entryThatRuns()).toBe('build help');
  });

  it('runs the sources again once a source file changed after the build', async () => {
    await writeFile(stamp(), '');
    await age(stamp(), 60);
    await age(source(), 30);
    expect(await entryThatRuns()).toBe('sources help');
  });
});
