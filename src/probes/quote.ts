/**
 * Shell quoting for probe commands: the one place that turns text into a `bash -c` invocation.
 * Pure and deterministic, so the invocation logged is byte for byte the one run, and hostile text
 * (quotes, `$(…)`, backticks, newlines, unicode) reaches the remote shell as data, never as code.
 */

/**
 * Quotes `text` as one POSIX shell word: wrapped in single quotes, each `'` written as `'\''`.
 * Inside single quotes no character is special, so any NUL-free string round-trips exactly.
 */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The script a probe runs: strict mode first, so a failing step or pipe stage fails the probe. */
export function probeScript(command: string): string {
  return `set -euo pipefail\n${command}`;
}

/** The exact command line sent over SSH for a probe command: `bash -c '<quoted script>'`. */
export function bashInvocation(command: string): string {
  return `bash -c ${shellQuote(probeScript(command))}`;
}
