import { describe, expect, it } from 'vitest';
import { loadChanged, readyCheckDelayMs, shouldRepublish } from '../../../src/policy/index.js';

const idle = { running: 0, waiting: 0, kv_usage: 0 };

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

  it('a heartbeat republishes after a load change, or once the last status is a refresh period old', () => {
    expect(shouldRepublish({ loadChanged: true, sinceLastPublishMs: 0, refreshMs: 10_000 })).toBe(true);
    expect(shouldRepublish({ loadChanged: false, sinceLastPublishMs: 9_999, refreshMs: 10_000 })).toBe(false);
    expect(shouldRepublish({ loadChanged: false, sinceLastPublishMs: 10_000, refreshMs: 10_000 })).toBe(true);
  });
});
