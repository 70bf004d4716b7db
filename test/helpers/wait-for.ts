/** Waiting on real conditions in integration tests (no sleep-and-hope). */

/**
 * Resolves once `condition()` is true, checking every `intervalMs`; rejects with `what` after
 * `timeoutMs` so a test that never gets there fails with a reason instead of hanging.
 */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
