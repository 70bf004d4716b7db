/**
 * Turns a LaunchSpec into what a host runs: the onstart script with `{model}` and `{port}`
 * substituted and the engine flags appended to the serve command, and the Docker-style env object
 * Vast expects. Shared by VastProvider (sent in the create body) and StaticProvider (run over SSH),
 * so both providers start the engine the same way.
 */
import type { LaunchSpec } from '../protocols/index.js';

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for POSIX sh: bare when it is safe, single-quoted otherwise. */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The onstart script for `launch`. Engine args go where the template says `{engine_args}`;
 * without that placeholder they follow the first `{port}` (the serve command's `--port {port}`,
 * before any redirection), else the first `{model}`, else the end of the script.
 */
export function renderOnstart(launch: LaunchSpec, model: string): string {
  const args = launch.engine_args.map(shellQuote).join(' ');
  let script = launch.onstart;
  if (script.includes('{engine_args}')) {
    script = script.split('{engine_args}').join(args);
  } else if (args !== '') {
    const anchor = ['{port}', '{model}'].find((a) => script.includes(a));
    if (anchor === undefined) {
      script = `${script} ${args}`;
    } else {
      const at = script.indexOf(anchor) + anchor.length;
      script = `${script.slice(0, at)} ${args}${script.slice(at)}`;
    }
  }
  return script.split('{model}').join(shellQuote(model)).split('{port}').join(String(launch.port));
}

/** The Docker port-mapping env key Vast reads for the engine port (`"-p 8000:8000"`). */
export function portMappingKey(port: number): string {
  return `-p ${port}:${port}`;
}

/** vLLM's HTTP keep-alive variable (seconds; uvicorn `timeout_keep_alive`, 5 by default). */
export const ENGINE_KEEP_ALIVE_VAR = 'VLLM_HTTP_TIMEOUT_KEEP_ALIVE';
/** The keep-alive a launched engine gets unless `launch.env` sets its own, in seconds. */
export const ENGINE_KEEP_ALIVE_S = 60;
/** uvicorn's keep-alive when nothing sets it, in seconds. */
const UVICORN_DEFAULT_KEEP_ALIVE_S = 5;

/**
 * The environment an engine is launched with: the spec's variables, plus a keep-alive long enough
 * that the routine check of an idle engine (every 10 s by default) finds its connection still
 * open. With vLLM's 5 s, every check of a thousand idle engines paid a TCP connect and close,
 * most of an idle fleet's CPU (bench `fleet-scale`). A value in `launch.env` wins.
 */
export function engineEnv(launch: LaunchSpec): Record<string, string> {
  return { [ENGINE_KEEP_ALIVE_VAR]: String(ENGINE_KEEP_ALIVE_S), ...launch.env };
}

/** How long an engine launched from `launch` keeps an idle connection, in ms. */
export function engineKeepAliveMs(launch: LaunchSpec): number {
  const raw = engineEnv(launch)[ENGINE_KEEP_ALIVE_VAR] ?? '';
  const seconds = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : UVICORN_DEFAULT_KEEP_ALIVE_S;
  return seconds * 1_000;
}

/** The Vast `env` object: the engine's variables plus the engine port mapping. */
export function vastEnv(launch: LaunchSpec): Record<string, string> {
  return { ...engineEnv(launch), [portMappingKey(launch.port)]: '1' };
}

/** The variables of a Vast env object, without its Docker-flag keys (`-p …`, `-h`, `-v …`). */
export function plainEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('-')));
}
