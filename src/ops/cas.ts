/**
 * Compare-and-set writes for the operator service (DESIGN §6: "writers use revision
 * compare-and-set"). A lost race is re-read and retried a few times, then reported, so an operator
 * edit never silently overwrites what an actor wrote in between.
 */
import { DroverError } from '../protocols/index.js';
import type { KvStore } from '../transport/index.js';

/** A value as written, with what it replaced. */
export interface CasWritten<T> {
  value: T;
  previous: T | undefined;
  revision: number;
}

function conflict(bucket: string, key: string, attempts: number): DroverError {
  return new DroverError('INTERNAL', `${bucket}/${key} changed concurrently ${attempts} times (or holds a value that fails its schema); try again`);
}

/**
 * Read-modify-write of one key. `change` gets the current value (undefined when the key is absent)
 * and returns the next one, or throws (e.g. NOT_FOUND) to abort. Retried on revision conflicts.
 */
export async function casWrite<T>(store: KvStore<T>, key: string, change: (current: T | undefined) => T, attempts: number): Promise<CasWritten<T>> {
  for (let i = 0; i < attempts; i += 1) {
    const current = await store.get(key);
    const next = change(current?.value);
    const revision = current === undefined ? await store.create(key, next) : await store.update(key, next, current.revision);
    if (revision !== undefined) return { value: next, previous: current?.value, revision };
  }
  throw conflict(store.bucket, key, attempts);
}

/**
 * Deletes `key` if its current value satisfies `matches`, at the revision it was read. Returns the
 * deleted value, or undefined when the key is gone or no longer matches. Retried on conflicts.
 */
export async function casDelete<T>(store: KvStore<T>, key: string, matches: (current: T) => boolean, attempts: number): Promise<T | undefined> {
  for (let i = 0; i < attempts; i += 1) {
    const current = await store.get(key);
    if (current === undefined || !matches(current.value)) return undefined;
    if (await store.deleteAt(key, current.revision)) return current.value;
  }
  throw conflict(store.bucket, key, attempts);
}
