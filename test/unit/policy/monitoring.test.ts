import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterReadyCheck,
  loadChanged,
  publishesAtOnce,
  readyCheckDelayMs,
  shouldRepublish,
  READY_CHECK_FAILURES,
  READY_WATCH_START,
  type ReadyCheckNext,
  type ReadyWatch,
} from '../../../src/policy/index.js';

const idle = { running: 0, waiting: 0, kv_usage: 0 };
const cadence = { probeIntervalMs: 2_000 };

describe('monitoring cadence', () => {
  it('checks a ready host at the probe interval while it serves or its load is unknown, rarely while idle', () => {
    expect(readyCheckDelayMs(idle, { probeIntervalMs: 2_000 })).toBe(10_000);
    expect(readyCheckDelayMs(idle, { probeIntervalMs: 2_000, idleCheckIntervalMs: 7_000 })).toBe(7_000);
    expect(readyCheckDelayMs({ ...idle, running: 1 }, { probeIntervalMs: 2_000 })).toBe(2_000);
    expect(readyCheckDelayMs({ ...idle, waiting: 3 }, { probeIntervalMs: 2_000 })).toBe(2_000);
    expect(readyCheckDelayMs(undefined, { probeIntervalMs: 2_000 })).toBe(2_000);
  });

  it('a load is news when any of its figures moved, or when there was none', () => {
    expect(loadChanged(undefined, idle)).toBe(true);
    expect(loadChanged(idle, { ...idle })).toBe(false);
    expect(loadChanged(idle, { ...idle, running: 1 })).toBe(true);
    expect(loadChanged(idle, { ...idle, waiting: 1 })).toBe(true);
    expect(loadChanged(idle, { ...idle, kv_usage: 0.5 })).toBe(true);
  });

  it('a heartbeat republishes after an unpublished change, or once the last status is a refresh period old', () => {
    expect(shouldRepublish({ changed: true, sinceLastPublishMs: 0, refreshMs: 10_000 })).toBe(true);
    expect(shouldRepublish({ changed: false, sinceLastPublishMs: 9_999, refreshMs: 10_000 })).toBe(false);
    expect(shouldRepublish({ changed: false, sinceLastPublishMs: 10_000, refreshMs: 10_000 })).toBe(true);
  });

  it('a pool publishes at once its first ready replica and every lost one; more joining wait for the heartbeat', () => {
    expect(publishesAtOnce({ readyBefore: 0, readyAfter: 1 })).toBe(true);
    expect(publishesAtOnce({ readyBefore: 3, readyAfter: 2 })).toBe(true);
    expect(publishesAtOnce({ readyBefore: 1, readyAfter: 2 })).toBe(false);
    expect(publishesAtOnce({ readyBefore: 999, readyAfter: 1_000 })).toBe(false);
  });
});

describe('monitoring - the watch of a ready host', () => {
  it('the first check after ready reads the model list; once it listed the model, checks skip it', () => {
    expect(READY_WATCH_START).toEqual({ modelListed: false, failures: 0 });
    const first = afterReadyCheck(READY_WATCH_START, { ok: true, load: idle }, true, cadence);
    expect(first).toEqual({ watch: { modelListed: true, failures: 0 }, next: { kind: 'check', inMs: 10_000 } });
    const routine = afterReadyCheck(first.watch, { ok: true, load: { ...idle, running: 2 } }, false, cadence);
    expect(routine).toEqual({ watch: { modelListed: true, failures: 0 }, next: { kind: 'check', inMs: 2_000 } });
    // A healthy engine whose metrics were unreadable is checked again at the probe interval.
    expect(afterReadyCheck(first.watch, { ok: true }, false, cadence).next).toEqual({ kind: 'check', inMs: 2_000 });
  });

  it('a failed check is looked at again within a second, model list included; the second in a row is examined', () => {
    const listed: ReadyWatch = { modelListed: true, failures: 0 };
    const once = afterReadyCheck(listed, { ok: false }, false, cadence);
    expect(once).toEqual({ watch: { modelListed: false, failures: 1 }, next: { kind: 'check', inMs: 1_000 } });
    expect(afterReadyCheck(listed, { ok: false }, false, { probeIntervalMs: 500 }).next).toEqual({ kind: 'check', inMs: 500 });
    expect(afterReadyCheck(once.watch, { ok: false }, true, cadence)).toEqual({ watch: { modelListed: false, failures: 2 }, next: { kind: 'examine' } });
    expect(afterReadyCheck(once.watch, { ok: true, load: idle }, true, cadence)).toEqual({ watch: { modelListed: true, failures: 0 }, next: { kind: 'check', inMs: 10_000 } });
  });

  it('property: the check after any failure reads the model list, and only consecutive failures reach examine', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), (outcomes) => {
        let watch = READY_WATCH_START;
        let listModels = true;
        let failuresInRow = 0;
        let last: ReadyCheckNext | undefined;
        for (const ok of outcomes) {
          // The actor reads the model list exactly when the watch says it has not been listed.
          expect(listModels).toBe(!watch.modelListed);
          const result = afterReadyCheck(watch, ok ? { ok, load: idle } : { ok }, listModels, cadence);
          failuresInRow = ok ? 0 : failuresInRow + 1;
          last = result.next;
          expect(result.watch.failures).toBe(failuresInRow);
          expect(last.kind === 'examine').toBe(failuresInRow >= READY_CHECK_FAILURES);
          if (last.kind === 'examine') break;
          if (!ok) expect(result.watch.modelListed).toBe(false);
          watch = result.watch;
          listModels = !watch.modelListed;
        }
        // Success after a model-list check (or after any success following one) keeps checks routine.
        if (last?.kind === 'check' && outcomes.at(-1) === true) expect(watch.modelListed).toBe(true);
      }),
    );
  });
});
