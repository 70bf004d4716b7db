import { describe, expect, it } from 'vitest';
import { casDelete, casWrite } from '../../../src/ops/cas.js';
import { DroverError } from '../../../src/protocols/index.js';
import type { KvStore } from '../../../src/transport/index.js';

/** An in-memory KvStore whose next `conflicts` compare-and-set writes lose, as if someone wrote first. */
function racyStore(conflicts: number): KvStore<number> & { data: Map<string, { value: number; revision: number }> } {
  const data = new Map<string, { value: number; revision: number }>();
  let rev = 0;
  let left = conflicts;
  const lose = (key: string): boolean => {
    if (left <= 0) return false;
    left -= 1;
    data.set(key, { value: (data.get(key)?.value ?? 0) + 100, revision: ++rev });
    return true;
  };
  return {
    bucket: 'test',
    data,
    get: (key) => Promise.resolve(data.get(key)),
    create: (key, value) => {
      if (data.has(key) || lose(key)) return Promise.resolve(undefined);
      data.set(key, { value, revision: ++rev });
      return Promise.resolve(rev);
    },
    update: (key, value, revision) => {
      if (lose(key) || data.get(key)?.revision !== revision) return Promise.resolve(undefined);
      data.set(key, { value, revision: ++rev });
      return Promise.resolve(rev);
    },
    put: (key, value) => {
      data.set(key, { value, revision: ++rev });
      return Promise.resolve(rev);
    },
    delete: (key) => {
      data.delete(key);
      return Promise.resolve();
    },
    deleteAt: (key, revision) => {
      if (lose(key) || data.get(key)?.revision !== revision) return Promise.resolve(false);
      data.delete(key);
      return Promise.resolve(true);
    },
    keys: () => Promise.resolve([...data.keys()]),
    entries: () => Promise.resolve([...data].map(([key, e]) => ({ key, ...e }))),
  };
}

describe('ops cas - compare-and-set retries', () => {
  it('re-reads and re-applies the change after a lost race', async () => {
    const store = racyStore(2);
    await store.put('k', 1);
    const written = await casWrite(store, 'k', (cur) => (cur ?? 0) + 1, 5);
    // Two rivals each added 100 before the third attempt won.
    expect(written).toMatchObject({ value: 202, previous: 201 });
    expect(store.data.get('k')?.value).toBe(202);
  });

  it('reports a conflict after the last attempt', async () => {
    const store = racyStore(10);
    const err = await casWrite(store, 'k', () => 1, 3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroverError);
    expect((err as DroverError).message).toMatch(/^test\/k changed concurrently 3 times/);
  });

  it('passes an abort from the change through untouched', async () => {
    const store = racyStore(0);
    const err = await casWrite(store, 'k', () => {
      throw new DroverError('NOT_FOUND', 'no such k');
    }, 3).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND' });
    expect(store.data.size).toBe(0);
  });

  it('deletes only a value that still matches, retrying lost races', async () => {
    const store = racyStore(1);
    await store.put('k', 1);
    await expect(casDelete(store, 'k', (v) => v > 0, 3)).resolves.toBe(101);
    expect(store.data.has('k')).toBe(false);
    await store.put('j', -1);
    await expect(casDelete(store, 'j', (v) => v > 0, 3)).resolves.toBeUndefined();
    expect(store.data.has('j')).toBe(true);
  });
});
