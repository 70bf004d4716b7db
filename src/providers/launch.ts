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

/** The Vast `env` object: the spec's variables plus the engine port mapping. */
export function vastEnv(launch: LaunchSpec): Record<string, string> {
  return { ...launch.env, [portMappingKey(launch.port)]: '1' };
}

/** The variables of a Vast env object, without its Docker-flag keys (`-p …`, `-h`, `-v …`). */
export function plainEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('-')));
}
