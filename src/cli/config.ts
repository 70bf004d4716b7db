/**
 * Resolves Drover's configuration: defaults ← config file (YAML or JSON) ← environment ← flags.
 * Every layer is validated by `DroverConfigSchema`; a bad value is reported with its path.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { DroverConfigSchema, describeZodError, type DroverConfig } from '../protocols/index.js';

/** Overrides from command-line flags. */
export interface ConfigFlags {
  configFile?: string;
  httpAddr?: string;
  dataDir?: string;
}

/** A configuration problem the user must fix; printed without a stack trace. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Json = Record<string, unknown>;

/** Splits `host:port` (IPv6 in brackets). */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) throw new ConfigError(`bad address ${JSON.stringify(addr)}: expected host:port`);
  return { host: m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]), port };
}

/** The environment variables Drover reads, as a partial config. */
export function envLayer(env: NodeJS.ProcessEnv): Json {
  const layer: Json = {};
  if (env.DROVER_NATS_URL) layer.nats = { url: env.DROVER_NATS_URL };
  if (env.DROVER_API_TOKEN) layer.api_token = env.DROVER_API_TOKEN;
  if (env.DROVER_DATA_DIR) layer.data_dir = env.DROVER_DATA_DIR;
  if (env.DROVER_HTTP_ADDR) layer.http = parseAddr(env.DROVER_HTTP_ADDR);
  if (env.DROVER_LOG_LEVEL) layer.log_level = env.DROVER_LOG_LEVEL;
  if (env.DROVER_NODE_ID) layer.node_id = env.DROVER_NODE_ID;
  const admission: Json = {};
  if (env.DROVER_ADMISSION_CAPACITY) {
    const n = Number(env.DROVER_ADMISSION_CAPACITY);
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`DROVER_ADMISSION_CAPACITY must be a positive integer, got ${JSON.stringify(env.DROVER_ADMISSION_CAPACITY)}`);
    admission.capacity = n;
  }
  if (env.DROVER_ADMISSION_POLICY) admission.policy = env.DROVER_ADMISSION_POLICY;
  if (Object.keys(admission).length > 0) layer.admission = admission;
  const fleet: Json = {};
  if (env.VAST_API_KEY) fleet.vast_api_key = env.VAST_API_KEY;
  if (env.VAST_API_URL) fleet.vast_api_url = env.VAST_API_URL;
  if (env.VAST_SSH_KEY_PATH) fleet.vast_ssh_key_path = env.VAST_SSH_KEY_PATH;
  if (env.DROVER_FLEET_FILE) fleet.fleet_file = env.DROVER_FLEET_FILE;
  if (env.DROVER_STRICTNESS) fleet.strictness = env.DROVER_STRICTNESS;
  if (env.DROVER_SIM_SCENARIO) fleet.sim_scenario = env.DROVER_SIM_SCENARIO;
  if (Object.keys(fleet).length > 0) layer.fleet = fleet;
  return layer;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars from `over` replace. */
export function mergeLayers(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? mergeLayers(prev, v) : v;
  }
  return out;
}

/** Reads a YAML or JSON config file. */
export async function readConfigFile(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} does not parse: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isObject(parsed)) throw new ConfigError(`config file ${path} must hold a mapping at the top level`);
  return parsed;
}

/** The resolved, validated configuration. */
export async function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Promise<DroverConfig> {
  let layers: Json = {};
  if (flags.configFile !== undefined) layers = mergeLayers(layers, await readConfigFile(flags.configFile));
  layers = mergeLayers(layers, envLayer(env));
  if (flags.dataDir !== undefined) layers = mergeLayers(layers, { data_dir: flags.dataDir });
  if (flags.httpAddr !== undefined) layers = mergeLayers(layers, { http: parseAddr(flags.httpAddr) });
  const result = DroverConfigSchema.safeParse(layers);
  if (!result.success) throw new ConfigError(`invalid configuration: ${describeZodError(result.error)}`);
  return result.data;
}

/** The config as printed at start-up: secrets replaced. */
export function redactConfig(config: DroverConfig): Json {
  const fleet = config.fleet.vast_api_key === undefined ? config.fleet : { ...config.fleet, vast_api_key: '[redacted]' };
  // Launch env carries secrets such as HF_TOKEN: keep the names, hide the values.
  const pools = config.pools.map((p) =>
    p.kind === 'fleet' ? { ...p, launch: { ...p.launch, env: Object.fromEntries(Object.keys(p.launch.env).map((k) => [k, '[redacted]'])) } } : p,
  );
  return JSON.parse(JSON.stringify({ ...config, fleet, pools, ...(config.api_token === undefined ? {} : { api_token: '[redacted]' }) })) as Json;
}

