/**
 * How a fleet watches its ready hosts and republishes its status (pure). At 1,000 ready hosts the
 * watching itself was the cost of an idle fleet: three HTTP checks per host every probe interval,
 * and a thousand-replica status published and parsed every tick (and once per host while a fleet
 * came up). Now an idle host is checked rarely, its routine check reads `/health` and `/metrics`
 * only, the model list is read when the host becomes ready and after any failed check, and
 * replicas joining a serving pool are published with the next heartbeat.
 */
import type { EngineLoad } from '../protocols/index.js';

/** How often ready hosts are checked. */
export interface ReadyCadence {
  probeIntervalMs: number;
  /** Check interval of an idle ready host; default 5 × `probeIntervalMs`. */
  idleCheckIntervalMs?: number;
}

/** Next check of a ready host: soon while it serves, rarely while its engine is idle. */
export function readyCheckDelayMs(load: EngineLoad | undefined, cadence: ReadyCadence): number {
  const idle = load !== undefined && load.running === 0 && load.waiting === 0;
  return idle ? (cadence.idleCheckIntervalMs ?? 5 * cadence.probeIntervalMs) : cadence.probeIntervalMs;
}

/** What the watch of one ready host remembers between checks. */
export interface ReadyWatch {
  /**
   * The model list was read, and listed the pool's model, since the host became ready or last
   * failed a check. While it holds, a check reads only `/health` and `/metrics`: an engine that
   * answers both without ever failing in between is the one that listed the model (a restart, with
   * other weights or not, refuses connections for a while and so fails a check).
   */
  modelListed: boolean;
  /** Failed checks in a row. */
  failures: number;
}

/** The watch of a host that has just become ready: its first check reads the model list. */
export const READY_WATCH_START: ReadyWatch = { modelListed: false, failures: 0 };

/** Failed checks in a row after which a ready host is examined (over SSH) and failed. */
export const READY_CHECK_FAILURES = 2;

/** What one check of a ready host saw. */
export interface ReadyCheckOutcome {
  /** The engine is healthy (and, on a check that read the model list, lists the pool's model). */
  ok: boolean;
  /** Its load, when `/metrics` was readable. */
  load?: EngineLoad;
}

/** What to do after a check of a ready host. */
export type ReadyCheckNext =
  /** Check again in `inMs` (that check reads the model list unless `watch.modelListed`). */
  | { kind: 'check'; inMs: number }
  /** The engine failed `READY_CHECK_FAILURES` checks in a row: examine the host and fail it. */
  | { kind: 'examine' };

/** The watch after a check, and what follows it. `checkedModels`: that check read the model list. */
export function afterReadyCheck(
  watch: ReadyWatch,
  outcome: ReadyCheckOutcome,
  checkedModels: boolean,
  cadence: ReadyCadence,
): { watch: ReadyWatch; next: ReadyCheckNext } {
  if (outcome.ok) {
    const next: ReadyWatch = { modelListed: watch.modelListed || checkedModels, failures: 0 };
    return { watch: next, next: { kind: 'check', inMs: readyCheckDelayMs(outcome.load, cadence) } };
  }
  const next: ReadyWatch = { modelListed: false, failures: watch.failures + 1 };
  if (next.failures >= READY_CHECK_FAILURES) return { watch: next, next: { kind: 'examine' } };
  // One failed check may be a blip: look again soon, model list included.
  return { watch: next, next: { kind: 'check', inMs: Math.min(cadence.probeIntervalMs, 1_000) } };
}

/** Whether a replica's load differs from what the last status said (a reason to publish). */
export function loadChanged(before: EngineLoad | undefined, after: EngineLoad): boolean {
  return before === undefined || before.running !== after.running || before.waiting !== after.waiting || before.kv_usage !== after.kv_usage;
}

/**
 * Whether a change of a pool's ready replicas is published at once: when the pool gains its first
 * ready replica or loses one (placement must start, or stop, using it). Another replica joining a
 * pool that already serves waits for the next heartbeat, so a thousand hosts becoming ready cost a
 * few dozen publishes of the thousand-replica status, not a thousand (each parsed by placement).
 */
export function publishesAtOnce(change: { readyBefore: number; readyAfter: number }): boolean {
  return change.readyBefore === 0 || change.readyAfter < change.readyBefore;
}

/**
 * Whether a pool heartbeat publishes: after a change not yet published (a replica joined, a load
 * moved), or when the last publish is `refreshMs` old.
 */
export function shouldRepublish(s: { changed: boolean; sinceLastPublishMs: number; refreshMs: number }): boolean {
  return s.changed || s.sinceLastPublishMs >= s.refreshMs;
}
