/**
 * Supervision policy: the pure decisions behind the actor runtime's restarts (DESIGN §3).
 *
 * - restart intensity (OTP `intensity/period`): at most `maxRestarts` restarts inside any window of
 *   `withinMs`, otherwise escalate;
 * - backoff with jitter (Akka `restartWithBackoff`): `min(max, min * 2^n) * (1 ± randomFactor)`;
 * - the default directive of a child kind (OTP `permanent | transient | temporary`).
 *
 * No I/O, no clock, no randomness of its own: `now` and `random` come in as arguments, so the same
 * inputs always give the same decision. The supervision types are declared here, once; the actor
 * runtime's contract (src/actors/types.ts) re-exports them, so policies never import the actor layer.
 */

/** What a supervisor does with a crashed child. */
export type Directive = 'resume' | 'restart' | 'stop' | 'escalate';

/** OTP child kinds: permanent is always restarted, transient only after a crash, temporary never. */
export type ChildKind = 'permanent' | 'transient' | 'temporary';

/** How a child ended an incarnation: by a crash, or by exiting normally (stopping itself). */
export type ExitCause = 'crashed' | 'normal';

/** At most `maxRestarts` restarts within `withinMs`, then escalate. */
export interface RestartLimit {
  maxRestarts: number;
  withinMs: number;
}

/** Exponential backoff with jitter between restarts. */
export interface Backoff {
  minBackoffMs: number;
  maxBackoffMs: number;
  randomFactor: number;
}

/** Outcome of {@link checkRestart}. */
export interface RestartCheck {
  /** True when one more restart fits in the window; false means escalate. */
  allowed: boolean;
  /**
   * The restart timestamps to keep: those still inside the window, plus `now` when allowed.
   * Feed it back as `history` on the next crash.
   */
  history: number[];
  /** Restarts inside the window before this one (what the supervisor is told). */
  restartsInWindow: number;
}

/** Restart timestamps still inside the window that ends at `now`: `(now - withinMs, now]`. */
export function pruneRestarts(history: readonly number[], now: number, limit: RestartLimit): number[] {
  return history.filter((t) => now - t < limit.withinMs);
}

/**
 * Restart intensity bookkeeping: may the child be restarted at `now`, given the timestamps of
 * its previous restarts? Older timestamps fall out of the window and are pruned.
 */
export function checkRestart(
  history: readonly number[],
  now: number,
  limit: RestartLimit,
): RestartCheck {
  const inWindow = pruneRestarts(history, now, limit);
  if (inWindow.length >= limit.maxRestarts) {
    return { allowed: false, history: inWindow, restartsInWindow: inWindow.length };
  }
  return { allowed: true, history: [...inWindow, now], restartsInWindow: inWindow.length };
}

/**
 * Delay before restart number `n` (0 for the first): `min(max, min * 2^n)` scaled by a factor
 * drawn uniformly from `[1 - randomFactor, 1 + randomFactor)` using `random` in `[0, 1)`, and
 * never negative. With `minBackoffMs <= maxBackoffMs` and `randomFactor` in `[0, 1]` the result
 * lies in `[minBackoffMs * (1 - randomFactor), maxBackoffMs * (1 + randomFactor)]`.
 */
export function backoffDelay(n: number, backoff: Backoff, random: number): number {
  // The exponent is capped so that a long-lived child cannot push 2^n to Infinity (and 0 * Inf).
  const exponent = Math.min(Math.max(0, Math.floor(n)), 60);
  const base = Math.min(backoff.maxBackoffMs, backoff.minBackoffMs * 2 ** exponent);
  const jitter = 1 + backoff.randomFactor * (2 * random - 1);
  return Math.max(0, base * jitter);
}

/**
 * What the supervisor does by default when a child of `kind` ends its incarnation: permanent
 * children are always restarted (even after a normal exit, as in OTP), transient ones only after
 * a crash, temporary ones never.
 */
export function defaultDirective(kind: ChildKind, cause: ExitCause): Directive {
  switch (kind) {
    case 'permanent':
      return 'restart';
    case 'transient':
      return cause === 'crashed' ? 'restart' : 'stop';
    case 'temporary':
      return 'stop';
  }
}
