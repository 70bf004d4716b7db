import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bashInvocation, probeScript, shellQuote } from '../../../src/probes/quote.js';

/** Runs `script` with a real `bash -c` and returns its stdout as UTF-8. */
function bash(script: string): { stdout: string; status: number | null } {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  return { stdout: r.stdout, status: r.status };
}

const HOSTILE = ["'", '"', '$(id)', '`id`', '\n', '\\', '$HOME', '${x:-y}', '!', '*', '?', '\r', '\t', ';', '|', '&', '<', '>', "'\\''", '#', '~', ' ', 'é', '中', '🙂', '\u00a0', '\u202e'];

/** Any NUL-free text, biased towards shell metacharacters. */
const text = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), { maxLength: 12 })
  .map((parts) => parts.join('').replaceAll('\0', ''));

describe('quote', () => {
  it('quote - wraps in single quotes and escapes only the single quote', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('abc')).toBe("'abc'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
  });

  it('quote - the script starts with strict mode', () => {
    expect(probeScript('ls')).toBe('set -euo pipefail\nls');
    expect(bashInvocation("printf 'x'")).toBe("bash -c 'set -euo pipefail\nprintf '\\''x'\\'''");
  });

  it('quote - is deterministic', () => {
    fc.assert(fc.property(text, (s) => shellQuote(s) === shellQuote(s) && bashInvocation(s) === bashInvocation(s)));
  });

  it('quote - any text fed to a real bash -c comes back exactly', () => {
    fc.assert(
      fc.property(text, (s) => {
        const r = bash(`printf '%s' ${shellQuote(s)}`);
        return r.status === 0 && r.stdout === s;
      }),
      { numRuns: 150 },
    );
  });

  it('quote - the full invocation, run through an outer shell as sshd does, prints the text exactly', () => {
    fc.assert(
      fc.property(text, (s) => {
        const r = bash(bashInvocation(`printf '%s' ${shellQuote(s)}`));
        return r.status === 0 && r.stdout === s;
      }),
      { numRuns: 100 },
    );
  });

  it('quote - strict mode makes a failing pipe stage fail the script', () => {
    expect(bash(bashInvocation('false | true')).status).toBe(1);
    expect(bash(bashInvocation('echo "$UNSET_VARIABLE_X"')).status).not.toBe(0);
    expect(bash(bashInvocation('false\necho after')).stdout).toBe('');
  });
});
