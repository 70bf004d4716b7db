import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TailBuffer } from '../../../src/probes/tail-buffer.js';

describe('tail buffer', () => {
  it('tail buffer - keeps everything under the limit', () => {
    const b = new TailBuffer(16);
    b.push(Buffer.from('hello '));
    b.push(Buffer.from('world'));
    expect(b.text()).toBe('hello world');
    expect(b.truncatedBytes).toBe(0);
  });

  it('tail buffer - keeps the newest bytes past the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (chunks, limit) => {
        const b = new TailBuffer(limit);
        for (const c of chunks) b.push(Buffer.from(c));
        const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        const kept = all.subarray(Math.max(0, all.length - limit));
        return b.truncatedBytes === all.length - kept.length && b.bytes().equals(kept);
      }),
    );
  });

  it('tail buffer - drops a character cut by the truncation instead of garbling it', () => {
    const b = new TailBuffer(5);
    b.push(Buffer.from('ab中文')); // 中 and 文 are 3 bytes each: the tail starts inside 中
    expect(b.text()).toBe('文');
  });

  it('tail buffer - a 1 MiB burst stays bounded', () => {
    const b = new TailBuffer(64 * 1024);
    for (let i = 0; i < 1024; i++) b.push(Buffer.alloc(1024, i % 2 === 0 ? 'a' : 'b'));
    expect(b.text().length).toBe(64 * 1024);
    expect(b.text().endsWith('b'.repeat(1024))).toBe(true);
  });
});
