import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TokenCoalescer, TurnFlusher } from '../../../src/actors/token-coalescer.js';
import type { Token } from '../../../src/protocols/index.js';

const tok = (i: number): Token => ({ t: `w${i}`, i });

describe('TokenCoalescer', () => {
  it('emits the tokens pushed within one turn as one batch, after the turn', async () => {
    const out: Token[][] = [];
    const c = new TokenCoalescer((b) => out.push(b));
    c.push(tok(0));
    c.push(tok(1));
    c.push(tok(2));
    expect(out).toEqual([]);
    await nextTurn();
    expect(out).toEqual([[tok(0), tok(1), tok(2)]]);
    c.push(tok(3));
    await nextTurn();
    expect(out).toEqual([[tok(0), tok(1), tok(2)], [tok(3)]]);
  });

  it('flushes a full batch at once and never exceeds the maximum', async () => {
    const out: Token[][] = [];
    const c = new TokenCoalescer((b) => out.push(b), new TurnFlusher(), 4);
    for (let i = 0; i < 10; i += 1) c.push(tok(i));
    expect(out.map((b) => b.length)).toEqual([4, 4]);
    await nextTurn();
    expect(out.flat()).toEqual(Array.from({ length: 10 }, (_, i) => tok(i)));
  });

  it('the relays sharing a flusher emit in one synchronous run, each its own batch', async () => {
    const flusher = new TurnFlusher();
    const out: string[] = [];
    // A microtask queued by the first emit must not run before the last one: one run, one socket write.
    let microtaskRan = false;
    const a = new TokenCoalescer((batch) => {
      out.push(`a${batch.length}`);
      queueMicrotask(() => (microtaskRan = true));
    }, flusher);
    const b = new TokenCoalescer((batch) => out.push(`b${batch.length}:${microtaskRan}`), flusher);
    a.push(tok(0));
    b.push(tok(0));
    a.push(tok(1));
    await nextTurn();
    expect(out).toEqual(['a2', 'b1:false']);
    expect(microtaskRan).toBe(true);
  });

  it('flush emits pending tokens now; discard drops them and nothing fires later', async () => {
    const out: Token[][] = [];
    const c = new TokenCoalescer((b) => out.push(b));
    c.push(tok(0));
    c.flush();
    expect(out).toEqual([[tok(0)]]);
    c.flush();
    c.push(tok(1));
    c.discard();
    await nextTurn();
    expect(out).toEqual([[tok(0)]]);
  });
});
