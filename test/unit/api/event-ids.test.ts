import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventFormatter, parseEventId } from '../../../src/api/event-ids.js';
import type { SequencedTaskEvent, Token } from '../../../src/protocols/index.js';

const batchAt = (seq: number, tokens: Token[]): SequencedTaskEvent => ({ seq, event: { type: 'token', task_id: 't', data: { batch: tokens } } });
const tokens = (from: number, n: number): Token[] => Array.from({ length: n }, (_, k) => ({ t: `w${from + k}`, i: from + k }));

/** Frames of SSE text as [id, data]. */
function frames(text: string): Array<[string, unknown]> {
  return text
    .split('\n\n')
    .filter((f) => f !== '')
    .map((f) => {
      const lines = f.split('\n');
      return [lines[0]!.slice(4), JSON.parse(lines[2]!.slice(6)) as unknown];
    });
}

describe('event ids', () => {
  it('parses S and S-k, and refuses anything else', () => {
    expect(parseEventId('12')).toEqual({ afterSeq: 12, skipTokens: 0 });
    expect(parseEventId('12-0')).toEqual({ afterSeq: 11, skipTokens: 1 });
    expect(parseEventId('12-5')).toEqual({ afterSeq: 11, skipTokens: 6 });
    for (const bad of ['', 'x', '-1', '1.5', '0-1', '3-', '3--1', '1-2-3', '1'.repeat(16)]) expect(parseEventId(bad), bad).toBeUndefined();
  });

  it('a resumed stream from any frame id of a batch yields exactly the tokens after it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1000 }), fc.boolean(), (n, seq, batched) => {
        const batch = tokens(0, n);
        const all = frames(new EventFormatter(false).format(batchAt(seq, batch)));
        expect(all.map(([, d]) => d)).toEqual(batch);
        for (let cut = 0; cut < all.length; cut += 1) {
          const cursor = parseEventId(all[cut]![0])!;
          // The reader replays from afterSeq + 1: the batch itself when the id was S-k.
          const replay = cursor.afterSeq < seq ? new EventFormatter(batched, cursor).format(batchAt(seq, batch)) : '';
          const got = frames(replay).flatMap(([, d]) => (batched ? (d as { batch: Token[] }).batch : [d as Token]));
          expect(got).toEqual(batch.slice(cut + 1));
        }
      }),
    );
  });

  it('only the first event after the cursor is trimmed', () => {
    const f = new EventFormatter(false, { afterSeq: 4, skipTokens: 2 });
    expect(frames(f.format(batchAt(5, tokens(0, 3)))).map(([id]) => id)).toEqual(['5']);
    expect(frames(f.format(batchAt(6, tokens(3, 3)))).map(([id]) => id)).toEqual(['6-0', '6-1', '6']);
  });

  it('single tokens and other events keep one frame with the plain sequence', () => {
    const f = new EventFormatter(false);
    expect(f.format({ seq: 3, event: { type: 'token', task_id: 't', data: { t: 'a', i: 0 } } })).toBe('id: 3\nevent: token\ndata: {"t":"a","i":0}\n\n');
    expect(f.format({ seq: 4, event: { type: 'end', task_id: 't', data: { tokens_out: 1, decode_ms: 0, decode_time_ms: 0 } } })).toBe(
      'id: 4\nevent: end\ndata: {"tokens_out":1,"decode_ms":0,"decode_time_ms":0}\n\n',
    );
  });
});
