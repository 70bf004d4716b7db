/**
 * The files of one simulated host: its root dir (`tmp/`, `root/` as HOME, `bin/` with the shims,
 * `.sim/` with the state the shims read) and the shims themselves, plain bash scripts baked per
 * host and profile:
 * - `nvidia-smi`: the `--query-gpu=… --format=csv[,noheader][,nounits]` rows and the default table
 *   for the host's GPU, or the fixture failure text and exit code for `gpu_fallen_off` (15, "GPU has
 *   fallen off the bus" in nvidia-smi(1)) and `nvml_mismatch` (18, NVML_ERROR_LIB_RM_VERSION_MISMATCH),
 *   printed on stdout as nvidia-smi does;
 * - `ps` and `pgrep`: a simulated process table holding only the vLLM process while it is alive
 *   (layouts `aux`, `-ef` and `-o <fields>`; selection flags are ignored). The real `ps` would list
 *   the simulator's own machine, which is no host's business.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimHostSpec } from './host-types.js';

/** Variables of the `vllm` command's environment that the simulated engine reads. */
const SIM_ENGINE_ENV = ['VLLM_API_KEY', 'VLLM_HTTP_TIMEOUT_KEEP_ALIVE'] as const;

/** nvidia-smi exit codes for the failure profiles. */
export const NVIDIA_SMI_EXIT = { gpu_fallen_off: 15, nvml_mismatch: 18 } as const;
/** nvidia-smi's text for the failure profiles (test/fixtures/nvidia_smi_fail_*.txt). */
export const NVIDIA_SMI_FAILURE = {
  gpu_fallen_off: 'Unable to determine the device handle for GPU0000:08:00.0: Unknown Error',
  nvml_mismatch: 'Failed to initialize NVML: Driver/library version mismatch',
} as const;

/** Single-quotes a value for bash. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One host's files; every write is synchronous (tiny files, and ordering matters to readers). */
export class SimHostFiles {
  readonly tmpDir: string;
  readonly homeDir: string;
  readonly binDir: string;
  readonly logPath: string;
  private readonly stateDir: string;

  constructor(readonly root: string, spec: SimHostSpec) {
    this.tmpDir = join(root, 'tmp');
    this.homeDir = join(root, 'root');
    this.binDir = join(root, 'bin');
    this.stateDir = join(root, '.sim');
    this.logPath = join(this.tmpDir, 'vllm.log');
    for (const dir of [this.tmpDir, this.homeDir, this.binDir, this.stateDir]) mkdirSync(dir, { recursive: true });
    const state = (name: string): string => shQuote(join(this.stateDir, name));
    const script = (name: string, body: string): void => writeFileSync(join(this.binDir, name), body, { mode: 0o755 });
    script('nvidia-smi', nvidiaSmiScript(spec, state('gpu.mem')));
    script('ps', psScript(state('engine.cmd'), state('engine.start'), state('engine.comm')));
    script('pgrep', pgrepScript(state('engine.cmd'), state('engine.comm')));
    // On a host you own there is no onstart: the launch command arrives over SSH. `vllm` records it,
    // with the variables of its environment that the simulated engine reads, and the host boots
    // from it (see SimHost.watchLaunch).
    const recordEnv = SIM_ENGINE_ENV.map((name) => `[ -n "\${${name}+x}" ] && printf 'export ${name}=%q\\n' "$${name}" >> ${state('launch.tmp')}\n`).join('');
    script('vllm', `#!/bin/bash\n# vllm of a simulated host: records the launch; the host runs the boot\n: > ${state('launch.tmp')}\n${recordEnv}printf 'vllm' >> ${state('launch.tmp')}\nprintf ' %q' "$@" >> ${state('launch.tmp')}\nmv ${state('launch.tmp')} ${state('launch')}\n`);
  }

  /** A launch command received over SSH (`vllm …`), taken once. */
  takeLaunchRequest(): string | undefined {
    const file = join(this.stateDir, 'launch');
    if (!existsSync(file)) return undefined;
    const text = readFileSync(file, 'utf8');
    rmSync(file, { force: true });
    return text;
  }

  /** Appends lines to `/tmp/vllm.log`. */
  appendLog(lines: readonly string[]): void {
    if (lines.length > 0) appendFileSync(this.logPath, lines.map((l) => `${l}\n`).join(''));
  }

  /** The engine process appears in `ps`. */
  processStarted(commandLine: string, comm: string, now: Date): void {
    const hhmm = `${String(now.getUTCHours()).padStart(2, '0')}:${String(now.getUTCMinutes()).padStart(2, '0')}`;
    writeFileSync(join(this.stateDir, 'engine.start'), hhmm);
    writeFileSync(join(this.stateDir, 'engine.comm'), comm);
    writeFileSync(join(this.stateDir, 'engine.cmd'), commandLine);
  }

  /** GPU memory in use as nvidia-smi reports it. */
  gpuMemoryUsed(mb: number): void {
    writeFileSync(join(this.stateDir, 'gpu.mem'), String(Math.round(mb)));
  }

  /** The engine process is gone from `ps`, its GPU memory freed. */
  processExited(): void {
    rmSync(join(this.stateDir, 'engine.cmd'), { force: true });
    this.gpuMemoryUsed(0);
  }

  /** Removes the whole root. */
  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function nvidiaSmiScript(spec: SimHostSpec, memFile: string): string {
  const header = `#!/bin/bash\n# nvidia-smi of simulated host ${spec.instance_id.replace(/\n/g, ' ')} (profile ${spec.profile})\n`;
  if (spec.profile === 'gpu_fallen_off' || spec.profile === 'nvml_mismatch') {
    return `${header}echo ${shQuote(NVIDIA_SMI_FAILURE[spec.profile])}\nexit ${NVIDIA_SMI_EXIT[spec.profile]}\n`;
  }
  return `${header}NAME=${shQuote(spec.gpu_name)}
TOTAL=${Math.round(spec.gpu_ram_mb)}
USED=$(cat ${memFile} 2>/dev/null || echo 0)
UUID=GPU-5f3c1e2a-8b7d-4c6e-9a10-${spec.instance_id.replace(/[^0-9a-f]/gi, '').padEnd(12, '0').slice(0, 12).toLowerCase()}
DRIVER=550.127.05
query=''; csv=0; header=1; units=1
for arg in "$@"; do
  case "$arg" in
    --query-gpu=*) query=\${arg#--query-gpu=} ;;
    --format=*) csv=1; f=",\${arg#--format=},"; [[ $f == *,noheader,* ]] && header=0; [[ $f == *,nounits,* ]] && units=0 ;;
    -L|--list-gpus) echo "GPU 0: $NAME (UUID: $UUID)"; exit 0 ;;
  esac
done
if [ -n "$query" ]; then
  if [ $csv = 0 ]; then echo 'Please specify at least one query format with --format=csv.'; exit 2; fi
  IFS=, read -ra fields <<< "$query"
  heads=(); vals=()
  for f in "\${fields[@]}"; do
    u=''
    case "$f" in
      name|gpu_name) v=$NAME ;;
      memory.total) v=$TOTAL; u=' MiB' ;;
      memory.used) v=$USED; u=' MiB' ;;
      memory.free) v=$((TOTAL - USED)); u=' MiB' ;;
      utilization.gpu) v=0; u=' %' ;;
      utilization.memory) v=0; u=' %' ;;
      temperature.gpu) v=31 ;;
      power.draw) v=69.85; u=' W' ;;
      driver_version) v=$DRIVER ;;
      uuid) v=$UUID ;;
      index) v=0 ;;
      count) v=1 ;;
      pci.bus_id) v=00000000:08:00.0 ;;
      *) echo "Field \\"$f\\" is not a valid field to query."; exit 2 ;;
    esac
    if [ -n "$u" ]; then heads+=("$f [\${u# }]"); else heads+=("$f"); fi
    if [ $units = 1 ]; then vals+=("$v$u"); else vals+=("$v"); fi
  done
  join() { local IFS='|'; local s="$*"; echo "\${s//|/, }"; }
  [ $header = 1 ] && join "\${heads[@]}"
  join "\${vals[@]}"
  exit 0
fi
date '+%a %b %e %H:%M:%S %Y'
echo '+-----------------------------------------------------------------------------------------+'
printf '| NVIDIA-SMI %-22s Driver Version: %-14s CUDA Version: 12.4     |\\n' "$DRIVER" "$DRIVER"
echo '|-----------------------------------------+------------------------+----------------------+'
echo '| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |'
echo '| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |'
echo '|                                         |                        |               MIG M. |'
echo '|=========================================+========================+======================|'
printf '|   0  %-29.29s  On  |   00000000:08:00.0 Off |                    0 |\\n' "$NAME"
printf '| N/A   31C    P0             70W /  700W | %8sMiB / %6sMiB |      0%%      Default |\\n' "$USED" "$TOTAL"
echo '|                                         |                        |             Disabled |'
echo '+-----------------------------------------+------------------------+----------------------+'
echo ''
echo '+-----------------------------------------------------------------------------------------+'
echo '| Processes:                                                                              |'
echo '|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |'
echo '|        ID   ID                                                               Usage      |'
echo '|=========================================================================================|'
echo '|  No running processes found                                                             |'
echo '+-----------------------------------------------------------------------------------------+'
`;
}

function psScript(cmdFile: string, startFile: string, commFile: string): string {
  return `#!/bin/bash
# ps of a simulated host: the simulated process table (the vLLM process while it is alive)
CMD=$(cat ${cmdFile} 2>/dev/null)
STIME=$(cat ${startFile} 2>/dev/null)
COMM=$(cat ${commFile} 2>/dev/null)
layout=aux; fields=''
while [ $# -gt 0 ]; do
  case "$1" in
    -o|o|--format) fields=$2; shift ;;
    --format=*) fields=\${1#--format=} ;;
    -o*) fields=\${1#-o} ;;
    -*o|[a-zA-Z]*o) fields=$2; shift ;;
    -*f*) layout=ef ;;
  esac
  shift
done
if [ -n "$fields" ]; then
  IFS=, read -ra fs <<< "$fields"
  heads=(); vals=(); show=0
  for f in "\${fs[@]}"; do
    name=\${f%%=*}; h=''
    case "$name" in
      pid) h=PID; v=1 ;; ppid) h=PPID; v=0 ;; user|uname|euser) h=USER; v=root ;; uid) h=UID; v=0 ;;
      args|command) h=COMMAND; v=$CMD ;; cmd) h=CMD; v=$CMD ;; comm|ucomm) h=COMMAND; v=$COMM ;;
      etime) h=ELAPSED; v=01:02 ;; stat) h=STAT; v=Sl ;; tty) h=TT; v='?' ;; pcpu|%cpu) h=%CPU; v=12.5 ;;
      pmem|%mem) h=%MEM; v=3.1 ;; rss) h=RSS; v=4123456 ;; *) h=\${name^^}; v='-' ;;
    esac
    if [[ $f == *=* ]]; then h=\${f#*=}; fi
    [ -n "$h" ] && show=1
    heads+=("$h"); vals+=("$v")
  done
  [ $show = 1 ] && echo "\${heads[*]}"
  [ -n "$CMD" ] && echo "\${vals[*]}"
elif [ $layout = ef ]; then
  echo 'UID          PID    PPID  C STIME TTY          TIME CMD'
  [ -n "$CMD" ] && printf '%-8s %7s %7s %2s %5s %-8s %8s %s\\n' root 1 0 12 "$STIME" '?' 00:00:42 "$CMD"
else
  echo 'USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND'
  [ -n "$CMD" ] && printf '%-8s %7s %4s %4s %6s %5s %-8s %-4s %5s %6s %s\\n' root 1 12.5 3.1 28764212 4123456 '?' Sl "$STIME" 0:42 "$CMD"
fi
exit 0
`;
}

function pgrepScript(cmdFile: string, commFile: string): string {
  return `#!/bin/bash
# pgrep of a simulated host: matches the simulated vLLM process only
full=0; list=0; listfull=0; pattern=''
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;; --list-full) listfull=1 ;; --list-name) list=1 ;;
    -*) [[ $arg == *f* ]] && full=1; [[ $arg == *a* ]] && listfull=1; [[ $arg == *l* ]] && list=1 ;;
    *) pattern=$arg ;;
  esac
done
CMD=$(cat ${cmdFile} 2>/dev/null)
COMM=$(cat ${commFile} 2>/dev/null)
[ -n "$CMD" ] || exit 1
if [ $full = 1 ]; then subject=$CMD; else subject=$COMM; fi
printf '%s\\n' "$subject" | grep -Eq -- "$pattern" || exit 1
if [ $listfull = 1 ]; then echo "1 $CMD"; elif [ $list = 1 ]; then echo "1 $COMM"; else echo 1; fi
`;
}
