/**
 * How often a fleet watches its ready hosts and republishes its status (pure). At 1,000 ready
 * hosts the watching itself was the cost of an idle fleet: three HTTP checks per host every
 * probe interval, and a thousand-replica status published and parsed every tick.
 */
import type { EngineLoad } from '../protocols/index.js';

/** Next check of a ready host: soon while it serves, rarely while its engine is idle. */
export function readyCheckDelayMs(load: EngineLoad | undefined, cadence: { probeIntervalMs: number; idleCheckIntervalMs?: number }): number {
  const idle = load !== undefined && load.running === 0 && load.waiting === 0;
  return idle ? (cadence.idleCheckIntervalMs ?? 5 * cadence.probeIntervalMs) : cadence.probeIntervalMs;
}

/** Whether a replica's load differs from what the last status said (a reason to publish). */
export function loadChanged(before: EngineLoad | undefined, after: EngineLoad): boolean {
  return before === undefined || before.running !== after.running || before.waiting !== after.waiting || before.kv_usage !== after.kv_usage;
}

/** Whether a pool heartbeat publishes: after a load change, or when the last publish is `refreshMs` old. */
export function shouldRepublish(s: { loadChanged: boolean; sinceLastPublishMs: number; refreshMs: number }): boolean {
  return s.loadChanged || s.sinceLastPublishMs >= s.refreshMs;
}
