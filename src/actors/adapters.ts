/**
 * One engine adapter per (engine kind, URL) in a process, so health checks and task streams to the
 * same engine share a connection pool.
 */
import { createEngineAdapter, type EngineAdapter } from '../engines/index.js';
import type { EngineKind } from '../protocols/index.js';

/** Lazily created, shared engine adapters. */
export class AdapterCache {
  private readonly adapters = new Map<string, EngineAdapter>();

  /** The adapter for `url`, created on first use. */
  get(kind: EngineKind, url: string): EngineAdapter {
    const key = `${kind} ${url}`;
    let adapter = this.adapters.get(key);
    if (adapter === undefined) {
      adapter = createEngineAdapter(kind, url);
      this.adapters.set(key, adapter);
    }
    return adapter;
  }

  /** Closes every adapter's connections. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.adapters.values()].map((a) => a.close()));
    this.adapters.clear();
  }
}
