/**
 * CPU time of processes from `/proc` (Linux only): user + system time of a pid, its direct
 * children, and snapshots of a set of pids so a benchmark can charge a relay with what it spent.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 when unknown). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of `pid` in seconds (threads included), or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses; fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is fields[0]; utime is field 14 and stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / clockTicksPerSecond();
}

/** Direct children of `pid`, read from `/proc/<pid>/task/<tid>/children`. */
export function childPids(pid: number): number[] {
  const out = new Set<number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const tid of tids) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/)) {
        if (word !== '') out.add(Number(word));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return [...out];
}

/** The command name (`/proc/<pid>/comm`) of a process, or '' when it is gone. */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** CPU seconds of several named processes at one moment. */
export type CpuSnapshot = Map<string, number>;

/** Reads the CPU seconds of each named pid (a vanished pid counts as 0). */
export function snapshot(pids: ReadonlyMap<string, number>): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const [name, pid] of pids) snap.set(name, cpuSeconds(pid) ?? 0);
  return snap;
}

/** CPU seconds each named process spent between two snapshots. */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, end] of after) out.set(name, Math.max(0, end - (before.get(name) ?? 0)));
  return out;
}
