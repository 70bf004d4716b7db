/**
 * One engine adapter per (engine kind, URL) in a process, all over one connection pool (undici
 * Agent), so health checks and task streams to the same engine share connections and a thousand
 * engines do not cost a thousand pools. An engine whose keep-alive is known (Drover launched it,
 * see `providers/launch.ts`) also gets a kept-open connection for its routine checks.
 */
import { Agent } from 'undici';
import { createEngineAdapter, type EngineAdapter } from '../engines/index.js';
import type { EngineKind } from '../protocols/index.js';

/** What is known about an engine's HTTP server. */
export interface EngineHints {
  /** How long the engine keeps an idle connection open, in ms. */
  serverKeepAliveMs?: number;
}

/** Lazily created, shared engine adapters. */
export class AdapterCache {
  private readonly adapters = new Map<string, EngineAdapter>();
  private readonly dispatcher = new Agent();

  /**
   * The adapter for `url`, created on first use. Hints count only when they come with the first
   * use (a host's checks start before any task can be placed on its engine).
   */
  get(kind: EngineKind, url: string, hints: EngineHints = {}): EngineAdapter {
    const key = `${kind} ${url}`;
    let adapter = this.adapters.get(key);
    if (adapter === undefined) {
      const { serverKeepAliveMs } = hints;
      adapter = createEngineAdapter(kind, url, { dispatcher: this.dispatcher, ...(serverKeepAliveMs === undefined ? {} : { serverKeepAliveMs }) });
      this.adapters.set(key, adapter);
    }
    return adapter;
  }

  /**
   * Drops the adapter of a gone engine and closes its own connections (not the shared pool, so a
   * stream still running on it finishes). A later `get` makes a new one.
   */
  release(kind: EngineKind, url: string): void {
    const key = `${kind} ${url}`;
    const adapter = this.adapters.get(key);
    if (adapter === undefined) return;
    this.adapters.delete(key);
    void adapter.close().catch(() => undefined);
  }

  /** Closes every adapter's connections. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.adapters.values()].map((a) => a.close()));
    this.adapters.clear();
    await this.dispatcher.close();
  }
}
