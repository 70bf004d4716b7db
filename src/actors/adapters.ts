/**
 * One engine adapter per (engine kind, URL) in a process, all over one connection pool (undici
 * Agent), so health checks and task streams to the same engine share connections and a thousand
 * engines do not cost a thousand pools.
 */
import { Agent } from 'undici';
import { createEngineAdapter, type EngineAdapter } from '../engines/index.js';
import type { EngineKind } from '../protocols/index.js';

/** Lazily created, shared engine adapters. */
export class AdapterCache {
  private readonly adapters = new Map<string, EngineAdapter>();
  private readonly dispatcher = new Agent();

  /** The adapter for `url`, created on first use. */
  get(kind: EngineKind, url: string): EngineAdapter {
    const key = `${kind} ${url}`;
    let adapter = this.adapters.get(key);
    if (adapter === undefined) {
      adapter = createEngineAdapter(kind, url, { dispatcher: this.dispatcher });
      this.adapters.set(key, adapter);
    }
    return adapter;
  }

  /** Closes every adapter's connections. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.adapters.values()].map((a) => a.close()));
    this.adapters.clear();
    await this.dispatcher.close();
  }
}
