import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventFormatter, parseEventId } from '../../../src/api/event-ids.js';
import { END_POSITION, eventAfter, positionOf, type TaskEvent, type Token } from '../../../src/protocols/index.js';

const batchOf = (tokens: Token[]): TaskEvent => ({ type: 'token', task_id: 't', data: { batch: tokens } });
const tokens = (from: number, n: number): Token[] => Array.from({ length: n }, (_, k) => ({ t: `w${from + k}`, i: from + k }));
const started: TaskEvent = { type: 'started', task_id: 't', data: { queue_position: 0, predicted_start_ms: 0 } };
const end: TaskEvent = { type: 'end', task_id: 't', data: { tokens_out: 1, decode_ms: 0, decode_time_ms: 0 } };

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
  it('parses positions and `end`, and refuses anything else', () => {
    expect(parseEventId('0')).toBe(0);
    expect(parseEventId('12')).toBe(12);
    expect(parseEventId('end')).toBe(END_POSITION);
    for (const bad of ['', 'x', '-1', '1.5', '12-0', '3-', 'END', ' 1', '1'.repeat(16)]) expect(parseEventId(bad), bad).toBeUndefined();
  });

  it('started is 0, token i is i+1, a terminal event is `end`', () => {
    const f = new EventFormatter(false);
    expect(f.format(started)).toBe('id: 0\nevent: started\ndata: {"queue_position":0,"predicted_start_ms":0}\n\n');
    expect(f.format({ type: 'token', task_id: 't', data: { t: 'a', i: 0 } })).toBe('id: 1\nevent: token\ndata: {"t":"a","i":0}\n\n');
    expect(f.format(end)).toBe('id: end\nevent: end\ndata: {"tokens_out":1,"decode_ms":0,"decode_time_ms":0}\n\n');
    expect(f.format({ type: 'metrics', task_id: 't', data: { queue_depth: 1 } })).toBe('event: metrics\ndata: {"queue_depth":1}\n\n');
  });

  it('a token frame carries exactly JSON.stringify of the token, whatever its text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat({ max: 1_000_000 }), (t, i) => {
        const expected = `id: ${i + 1}\nevent: token\ndata: ${JSON.stringify({ t, i })}\n\n`;
        expect(new EventFormatter(false).format({ type: 'token', task_id: 'x', data: { t, i } })).toBe(expected);
        expect(new EventFormatter(false).format(batchOf([{ t, i }, { t, i: i + 1 }]))).toBe(expected + `id: ${i + 2}\nevent: token\ndata: ${JSON.stringify({ t, i: i + 1 })}\n\n`);
      }),
    );
  });

  it('a batch is a frame per token, or one frame at its last token with ?batch=true', () => {
    expect(frames(new EventFormatter(false).format(batchOf(tokens(4, 3))))).toEqual([
      ['5', { t: 'w4', i: 4 }],
      ['6', { t: 'w5', i: 5 }],
      ['7', { t: 'w6', i: 6 }],
    ]);
    expect(frames(new EventFormatter(true).format(batchOf(tokens(4, 3))))).toEqual([['7', { batch: tokens(4, 3) }]]);
  });

  it('a resume from any frame id yields exactly what follows it, however the tokens were batched', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (sizes, batched) => {
        const events: TaskEvent[] = [started];
        let next = 0;
        for (const n of sizes) {
          events.push(n === 1 ? { type: 'token', task_id: 't', data: tokens(next, 1)[0]! } : batchOf(tokens(next, n)));
          next += n;
        }
        events.push(end);
        const all = frames(events.map((e) => new EventFormatter(false).format(e)).join(''));
        expect(all.map(([id]) => id)).toEqual(['0', ...tokens(0, next).map((t) => String(t.i + 1)), 'end']);
        for (let cut = 0; cut < all.length; cut += 1) {
          const after = parseEventId(all[cut]![0])!;
          const rest = events.flatMap((e) => eventAfter(e, after) ?? []);
          const got = frames(rest.map((e) => new EventFormatter(batched).format(e)).join('')).flatMap(([id, d]) =>
            batched && typeof d === 'object' && d !== null && 'batch' in d ? (d as { batch: Token[] }).batch.map((t) => [String(t.i + 1), t]) : [[id, d]],
          );
          expect(got).toEqual(all.slice(cut + 1));
        }
      }),
    );
  });

  it('positions follow the content alone', () => {
    expect(positionOf(started)).toBe(0);
    expect(positionOf(batchOf(tokens(0, 4)))).toBe(4);
    expect(positionOf({ type: 'error', task_id: 't', data: { code: 'INTERNAL', message: 'x', retriable: false } } as TaskEvent)).toBe(END_POSITION);
    expect(eventAfter(batchOf(tokens(0, 4)), 2)).toEqual(batchOf(tokens(2, 2)));
    expect(eventAfter(batchOf(tokens(0, 4)), 4)).toBeUndefined();
    expect(eventAfter(end, END_POSITION)).toBeUndefined();
  });
});
