/**
 * `drover ctl`: operator commands over NATS request/reply against the `drover-ops` service
 * (DESIGN §4), from any machine on the cluster. Each command checks its arguments before it
 * connects, sends one request through the transport and prints the reply: a readable table, or
 * the reply itself with `--json`. Exit codes: 0 success, 1 an error reply (printed as
 * `CODE: message`) or no connection, 2 a usage error.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { ZodType } from 'zod';
import { DroverError, HostStateSchema, StrictnessSchema, toEnvelope } from '../protocols/index.js';
import {
  BlacklistAddReplySchema,
  BlacklistListReplySchema,
  BlacklistRemovedReplySchema,
  BlacklistScopeSchema,
  HostsListReplySchema,
  HostsShowReplySchema,
  OPS_SERVICE,
  OPS_SUBJECTS,
  PoolsListReplySchema,
  PoolUpdateReplySchema,
  StrictnessReplySchema,
} from '../protocols/index.js';
import { connectTransport, DEFAULT_REQUEST_TIMEOUT_MS, type Transport } from '../transport/index.js';
import {
  formatBlacklist,
  formatBlacklistAdd,
  formatBlacklistRemoved,
  formatDrain,
  formatHostShow,
  formatHostsList,
  formatPools,
  formatScale,
  formatStrictness,
} from './ctl-format.js';

/** The embedded nats-server's client port (nats.conf), the default when nothing else is given. */
export const DEFAULT_CTL_NATS_URL = 'nats://127.0.0.1:24222';

/** Usage of `drover ctl`. */
export const CTL_USAGE = `usage:
  drover ctl hosts ls [--pool POOL] [--state STATE]
  drover ctl hosts show HOST_ID
  drover ctl blacklist ls [--scope global|workload|operator]
  drover ctl blacklist add PROVIDER_HOST_ID --reason TEXT
  drover ctl blacklist rm PROVIDER_HOST_ID [--scope global|workload|operator]
  drover ctl blacklist clear
  drover ctl pools ls
  drover ctl pools scale POOL N
  drover ctl pools drain POOL
  drover ctl strictness get
  drover ctl strictness set strict|balanced|aggressive

every command: [--json] [--nats URL] [--operator NAME] [--timeout MS]
  --nats defaults to DROVER_NATS_URL or ${DEFAULT_CTL_NATS_URL}; --operator to DROVER_OPERATOR`;

/** Where `runCtl` writes and what environment it reads. */
export interface CtlIo {
  out: { write(chunk: string): unknown };
  err: { write(chunk: string): unknown };
  env: NodeJS.ProcessEnv;
}

/** Flags a command may take besides the common ones. */
type CommandFlag = 'pool' | 'state' | 'reason' | 'scope';

/** Parsed flag values. */
interface Flags {
  pool?: string | undefined;
  state?: string | undefined;
  reason?: string | undefined;
  scope?: string | undefined;
}

/** What a command prints: the reply (for `--json`) and its readable form. */
interface Output {
  reply: unknown;
  text: string;
}

/** A command whose arguments are checked; `run` sends the request. */
type Planned = (request: <Res>(subject: string, payload: unknown, schema: ZodType<Res>) => Promise<Res>) => Promise<Output>;

/** One `ctl <group> <verb>`. `plan` throws UsageError for bad arguments, before any connection. */
interface Command {
  args: readonly string[];
  flags: readonly CommandFlag[];
  plan(args: readonly string[], flags: Flags, operator: string | undefined): Planned;
}

/** A mistake in the command line: exit 2 with the usage. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseWith<T>(schema: ZodType<T>, value: string, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new UsageError(`${what}: ${JSON.stringify(value)} is not valid`);
  return r.data;
}

function withOperator(operator: string | undefined): { operator?: string } {
  return operator === undefined ? {} : { operator };
}

/** Builds a Planned from one request and its renderer. */
function one<Res>(subject: string, payload: unknown, schema: ZodType<Res>, render: (r: Res) => string): Planned {
  return async (request) => {
    const reply = await request(subject, payload, schema);
    return { reply, text: render(reply) };
  };
}

const COMMANDS: Record<string, Command> = {
  'hosts ls': {
    args: [],
    flags: ['pool', 'state'],
    plan: (_a, f) => {
      const state = f.state === undefined ? undefined : parseWith(HostStateSchema, f.state, '--state');
      const payload = { ...(f.pool === undefined ? {} : { pool_id: f.pool }), ...(state === undefined ? {} : { state }) };
      return one(OPS_SUBJECTS.hostsList, payload, HostsListReplySchema, formatHostsList);
    },
  },
  'hosts show': {
    args: ['HOST_ID'],
    flags: [],
    plan: ([hostId]) => one(OPS_SUBJECTS.hostsShow, { host_id: hostId }, HostsShowReplySchema, formatHostShow),
  },
  'blacklist ls': {
    args: [],
    flags: ['scope'],
    plan: (_a, f) => {
      const scope = f.scope === undefined ? undefined : parseWith(BlacklistScopeSchema, f.scope, '--scope');
      return one(OPS_SUBJECTS.blacklistList, scope === undefined ? {} : { scope }, BlacklistListReplySchema, formatBlacklist);
    },
  },
  'blacklist add': {
    args: ['PROVIDER_HOST_ID'],
    flags: ['reason'],
    plan: ([host], f, operator) => {
      if (f.reason === undefined || f.reason.trim() === '') throw new UsageError('blacklist add needs --reason TEXT');
      return one(OPS_SUBJECTS.blacklistAdd, { provider_host_id: host, reason: f.reason, ...withOperator(operator) }, BlacklistAddReplySchema, formatBlacklistAdd);
    },
  },
  'blacklist rm': {
    args: ['PROVIDER_HOST_ID'],
    flags: ['scope'],
    plan: ([host], f, operator) => {
      const scope = f.scope === undefined ? undefined : parseWith(BlacklistScopeSchema, f.scope, '--scope');
      const payload = { provider_host_id: host, ...(scope === undefined ? {} : { scope }), ...withOperator(operator) };
      return one(OPS_SUBJECTS.blacklistRemove, payload, BlacklistRemovedReplySchema, formatBlacklistRemoved);
    },
  },
  'blacklist clear': {
    args: [],
    flags: [],
    plan: (_a, _f, operator) => one(OPS_SUBJECTS.blacklistClear, withOperator(operator), BlacklistRemovedReplySchema, formatBlacklistRemoved),
  },
  'pools ls': {
    args: [],
    flags: [],
    plan: () => one(OPS_SUBJECTS.poolsList, {}, PoolsListReplySchema, formatPools),
  },
  'pools scale': {
    args: ['POOL', 'N'],
    flags: [],
    plan: ([pool, n], _f, operator) => {
      if (n === undefined || !/^\d+$/.test(n)) throw new UsageError(`pools scale: N must be a whole number >= 0, got ${JSON.stringify(n)}`);
      return one(OPS_SUBJECTS.poolsScale, { pool_id: pool, replicas: Number(n), ...withOperator(operator) }, PoolUpdateReplySchema, formatScale);
    },
  },
  'pools drain': {
    args: ['POOL'],
    flags: [],
    plan: ([pool], _f, operator) => one(OPS_SUBJECTS.poolsDrain, { pool_id: pool, ...withOperator(operator) }, PoolUpdateReplySchema, formatDrain),
  },
  'strictness get': {
    args: [],
    flags: [],
    plan: () => one(OPS_SUBJECTS.strictnessGet, {}, StrictnessReplySchema, formatStrictness),
  },
  'strictness set': {
    args: ['strict|balanced|aggressive'],
    flags: [],
    plan: ([value], _f, operator) => {
      const strictness = parseWith(StrictnessSchema, value ?? '', 'strictness');
      return one(OPS_SUBJECTS.strictnessSet, { strictness, ...withOperator(operator) }, StrictnessReplySchema, formatStrictness);
    },
  },
};

/** Verbs that have a longer spelling. */
const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm', delete: 'rm' };

const CTL_OPTIONS = {
  json: { type: 'boolean', default: false },
  nats: { type: 'string' },
  operator: { type: 'string' },
  timeout: { type: 'string' },
  pool: { type: 'string' },
  state: { type: 'string' },
  reason: { type: 'string' },
  scope: { type: 'string' },
} as const;

function parseFlags(argv: string[]): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: typeof CTL_OPTIONS }>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: CTL_OPTIONS });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The parsed command line, or a usage error. */
function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): { planned: Planned; json: boolean; url: string; timeoutMs: number } {
  const { values, positionals } = parseFlags(argv);
  const [group, rawVerb, ...args] = positionals;
  const verb = rawVerb === undefined ? undefined : (ALIASES[rawVerb] ?? rawVerb);
  const name = `${group ?? ''} ${verb ?? ''}`;
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(group === undefined ? 'a command is required' : `unknown command ${JSON.stringify(positionals.slice(0, 2).join(' '))}`);
  if (args.length !== command.args.length) {
    throw new UsageError(`${name} takes ${command.args.length === 0 ? 'no arguments' : command.args.join(' ')}, got ${args.length === 0 ? 'none' : JSON.stringify(args.join(' '))}`);
  }
  const flags: Flags = { pool: values.pool, state: values.state, reason: values.reason, scope: values.scope };
  for (const f of ['pool', 'state', 'reason', 'scope'] as const) {
    if (flags[f] !== undefined && !command.flags.includes(f)) throw new UsageError(`${name} does not take --${f}`);
  }
  const timeoutMs = values.timeout === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout must be a positive number of milliseconds');
  const operator = values.operator ?? (env.DROVER_OPERATOR === undefined || env.DROVER_OPERATOR === '' ? undefined : env.DROVER_OPERATOR);
  return {
    planned: command.plan(args, flags, operator),
    json: values.json,
    url: values.nats ?? (env.DROVER_NATS_URL === undefined || env.DROVER_NATS_URL === '' ? DEFAULT_CTL_NATS_URL : env.DROVER_NATS_URL),
    timeoutMs,
  };
}

/** Runs `drover ctl ARGV`; resolves with the exit code. */
export async function runCtl(argv: string[], io: CtlIo = { out: process.stdout, err: process.stderr, env: process.env }): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    (argv.length === 0 ? io.err : io.out).write(`${CTL_USAGE}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  let cmd: ReturnType<typeof parseCommandLine>;
  try {
    cmd = parseCommandLine(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err.write(`drover ctl: ${err.message}\n${CTL_USAGE}\n`);
    return 2;
  }

  // Logs go to stderr, quietly, so stdout stays the reply alone.
  const logger = pino({ level: io.env.DROVER_LOG_LEVEL ?? 'warn', base: undefined }, pino.destination({ dest: 2, sync: true }));
  let transport: Transport;
  try {
    transport = await connectTransport({ url: cmd.url, name: 'drover-ctl', logger, manageStreams: false });
  } catch (err) {
    io.err.write(`drover ctl: cannot connect to NATS at ${cmd.url}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    const output = await cmd.planned((subject, payload, schema) => transport.bus.request(subject, payload, { schema, timeoutMs: cmd.timeoutMs }));
    io.out.write(`${cmd.json ? JSON.stringify(output.reply, null, 2) : output.text}\n`);
    return 0;
  } catch (err) {
    const envelope = toEnvelope(err);
    // The bus says "no scheduler" for no responders; here the missing responder is drover-ops.
    const message = err instanceof DroverError && err.code === 'POOL_UNAVAILABLE' ? `no ${OPS_SERVICE} service answers at ${cmd.url} (is a Drover process connected?)` : envelope.message;
    if (cmd.json) io.out.write(`${JSON.stringify({ error: { ...envelope, message } }, null, 2)}\n`);
    io.err.write(`${envelope.code}: ${message}\n`);
    return 1;
  } finally {
    await transport.close().catch(() => undefined);
  }
}
