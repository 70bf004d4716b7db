/**
 * KV buckets of zod-checked JSON records (DESIGN §6). Values are stored as JSON so that
 * `nats kv get` shows them to an operator; every read is parsed with the bucket's schema, and a
 * stored value that no longer parses is logged and treated as absent rather than crashing the
 * reader. Revision conflicts of `create`/`update` are expected outcomes of compare-and-set and
 * come back as `undefined`, never as exceptions.
 */
import { KvWatchInclude, NatsError, type KV, type KvEntry } from 'nats';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import { decode, describeZodError, encode } from '../protocols/index.js';
import { JetStreamPublishError, type StoredPublish } from './acked-publish.js';
import type { KvStore } from './types.js';

/** JetStream API error code "wrong last sequence": the compare-and-set lost. */
const JS_WRONG_LAST_SEQUENCE = 10071;

/** True when a KV write failed only because the key was not at the expected revision. */
export function isRevisionConflict(err: unknown): boolean {
  if (err instanceof JetStreamPublishError) return err.errCode === JS_WRONG_LAST_SEQUENCE;
  return err instanceof NatsError && err.api_error?.err_code === JS_WRONG_LAST_SEQUENCE;
}

/** Keys nats.js's KV accepts; others take its path, which refuses them with its own error. */
const PLAIN_KEY = /^[-/=\w]+(?:\.[-/=\w]+)*$/;

/** {@link KvStore} over a nats.js KV view. */
export class NatsKvStore<T> implements KvStore<T> {
  private readonly log: Logger;
  /** Subject of a key in the bucket's stream: `$KV.<bucket>.<key>`. */
  private readonly subjectPrefix: string;

  /**
   * `publishStored` carries the compare-and-set writes (`create`, `update`) straight to the
   * bucket's stream (see {@link AckedPublisher}); everything else goes through nats.js's KV view.
   */
  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly schema: ZodType<T>,
    log: Logger,
    private readonly publishStored: StoredPublish,
  ) {
    this.log = log.child({ bucket });
    this.subjectPrefix = `$KV.${bucket}.`;
  }

  async get(key: string): Promise<{ value: T; revision: number } | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    const value = this.parse(entry);
    return value === undefined ? undefined : { value: value.value, revision: entry.revision };
  }

  async create(key: string, value: T): Promise<number | undefined> {
    const data = this.encode(value);
    if (PLAIN_KEY.test(key)) {
      try {
        return await this.publishStored(this.subjectPrefix + key, data, { expectedLastSubjectSequence: 0 });
      } catch (err) {
        // The key exists, or its last entry is a delete marker, which nats.js's create takes over.
        if (!isRevisionConflict(err)) throw err;
      }
    }
    try {
      return await this.kv.create(key, data);
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  async update(key: string, value: T, revision: number): Promise<number | undefined> {
    try {
      const data = this.encode(value);
      if (PLAIN_KEY.test(key) && revision > 0) return await this.publishStored(this.subjectPrefix + key, data, { expectedLastSubjectSequence: revision });
      return await this.kv.update(key, data, revision);
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  put(key: string, value: T): Promise<number> {
    return this.kv.put(key, this.encode(value));
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }

  async deleteAt(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return true;
    } catch (err) {
      if (isRevisionConflict(err)) return false;
      throw err;
    }
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(k);
    return out;
  }

  async entries(): Promise<Array<{ key: string; value: T; revision: number }>> {
    // One watcher replays the last value of every key. Once the initial values are queued the
    // watcher is stopped; a stopped iterator still hands out what it had queued, then ends.
    const latest = new Map<string, KvEntry>();
    const ref: { iter?: Awaited<ReturnType<KV['watch']>> } = {};
    let initialized = false;
    const iter = await this.kv.watch({
      include: KvWatchInclude.LastValue,
      initializedFn: () => {
        initialized = true;
        ref.iter?.stop();
      },
    });
    ref.iter = iter;
    if (initialized) iter.stop();
    for await (const e of iter) latest.set(e.key, e);
    const out: Array<{ key: string; value: T; revision: number }> = [];
    for (const e of latest.values()) {
      if (e.operation !== 'PUT') continue;
      const parsed = this.parse(e);
      if (parsed !== undefined) out.push({ key: e.key, value: parsed.value, revision: e.revision });
    }
    return out;
  }

  private encode(value: T): Uint8Array {
    return encode(value, 'json');
  }

  /** Parses a stored value; logs and returns undefined when it does not fit the schema. */
  private parse(entry: KvEntry): { value: T } | undefined {
    let raw: unknown;
    try {
      raw = decode(entry.value, 'json');
    } catch (err) {
      this.log.warn({ key: entry.key, revision: entry.revision, err }, 'stored value is not JSON; skipped');
      return undefined;
    }
    const result = this.schema.safeParse(raw);
    if (!result.success) {
      this.log.warn({ key: entry.key, revision: entry.revision, reason: describeZodError(result.error) }, 'stored value fails the schema; skipped');
      return undefined;
    }
    return { value: result.data };
  }
}
