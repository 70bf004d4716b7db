import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AdmissionPolicyName, Priority } from '../../../src/protocols/index.js';
import {
  MAX_BACKOFF_MS,
  MIN_BACKOFF_MS,
  PriorityQueues,
  admissionView,
  applyAdmission,
  backoffMs,
  decideAdmission,
  predictStartMs,
  updateEwma,
  type QueueEntry,
} from '../../../src/policy/admission.js';

function entry(task_id: string, priority: Priority, at = 0, deadline_at = 1_000_000): QueueEntry {
  return { task_id, priority, model: 'm', enqueued_at: at, deadline_at };
}

function ids(q: PriorityQueues): string[] {
  return [...q.inDispatchOrder()].map((e) => e.task_id);
}

describe('PriorityQueues', () => {
  it('queues - FIFO within a priority, interactive before batch in dispatch order', () => {
    const q = new PriorityQueues();
    q.enqueue(entry('b1', 'batch'));
    q.enqueue(entry('i1', 'interactive'));
    q.enqueue(entry('b2', 'batch'));
    q.enqueue(entry('i2', 'interactive'));
    expect(ids(q)).toEqual(['i1', 'i2', 'b1', 'b2']);
    expect(q.size).toBe(4);
    expect(q.sizeOf('interactive')).toBe(2);
    expect(q.sizeOf('batch')).toBe(2);
    expect(q.peekOldest('interactive')?.task_id).toBe('i1');
    expect(q.peekOldest('batch')?.task_id).toBe('b1');
  });

  it('queues - position is 0-based in dispatch order', () => {
    const q = new PriorityQueues();
    q.enqueue(entry('b1', 'batch'));
    q.enqueue(entry('i1', 'interactive'));
    q.enqueue(entry('i2', 'interactive'));
    expect(q.position('i1')).toBe(0);
    expect(q.position('i2')).toBe(1);
    expect(q.position('b1')).toBe(2);
    expect(q.position('nope')).toBeUndefined();
  });

  it('queues - remove takes an entry out from anywhere (cancel)', () => {
    const q = new PriorityQueues();
    for (const id of ['a', 'b', 'c']) q.enqueue(entry(id, 'interactive'));
    expect(q.remove('b')?.task_id).toBe('b');
    expect(q.remove('b')).toBeUndefined();
    expect(q.has('b')).toBe(false);
    expect(ids(q)).toEqual(['a', 'c']);
    expect(q.remove('a')?.task_id).toBe('a');
    expect(q.remove('c')?.task_id).toBe('c');
    expect(q.size).toBe(0);
    expect(q.peekOldest('interactive')).toBeUndefined();
    q.enqueue(entry('d', 'interactive'));
    expect(ids(q)).toEqual(['d']);
  });

  it('queues - requeueFront puts a retried task at the front of its priority', () => {
    const q = new PriorityQueues();
    q.enqueue(entry('i1', 'interactive'));
    q.enqueue(entry('b1', 'batch'));
    q.requeueFront(entry('b0', 'batch'));
    q.requeueFront(entry('i0', 'interactive'));
    expect(ids(q)).toEqual(['i0', 'i1', 'b0', 'b1']);
    expect(q.peekOldest('batch')?.task_id).toBe('b0');
  });

  it('queues - a duplicate task id is a defect', () => {
    const q = new PriorityQueues();
    q.enqueue(entry('a', 'batch'));
    expect(() => q.enqueue(entry('a', 'interactive'))).toThrow(/already queued/);
    expect(() => q.requeueFront(entry('a', 'batch'))).toThrow(/already queued/);
  });

  it('queues - expire removes and returns entries whose deadline has passed', () => {
    const q = new PriorityQueues();
    q.enqueue(entry('a', 'interactive', 0, 100));
    q.enqueue(entry('b', 'batch', 0, 50));
    q.enqueue(entry('c', 'interactive', 0, 200));
    expect(q.expire(49)).toEqual([]);
    expect(q.expire(100).map((e) => e.task_id)).toEqual(['a', 'b']);
    expect(ids(q)).toEqual(['c']);
    expect(q.expire(199)).toEqual([]);
    q.enqueue(entry('d', 'batch', 0, 10)); // an earlier deadline after a scan is still seen
    expect(q.expire(10).map((e) => e.task_id)).toEqual(['d']);
    expect(q.expire(200).map((e) => e.task_id)).toEqual(['c']);
    expect(q.size).toBe(0);
  });
});

describe('decideAdmission', () => {
  const full = { size: 2, batchSize: 1, oldestBatch: entry('b1', 'batch'), oldestInteractive: entry('i1', 'interactive') };

  it('admission - below capacity admits', () => {
    expect(decideAdmission({ size: 1, batchSize: 0 }, { priority: 'batch' }, { capacity: 2, policy: 'reject' })).toEqual({ kind: 'admit' });
  });

  it('admission - full with policy reject rejects with ADMISSION_REJECT', () => {
    expect(decideAdmission(full, { priority: 'interactive' }, { capacity: 2, policy: 'reject' })).toEqual({
      kind: 'reject',
      code: 'ADMISSION_REJECT',
    });
  });

  it('admission - full with drop-lru evicts the oldest batch entry, for either priority', () => {
    for (const priority of ['interactive', 'batch'] as const) {
      expect(decideAdmission(full, { priority }, { capacity: 2, policy: 'drop-lru' })).toEqual({
        kind: 'evict-then-admit',
        victim: full.oldestBatch,
      });
    }
  });

  it('admission - drop-lru with only interactive queued: interactive evicts the oldest interactive', () => {
    const onlyInteractive = { size: 2, batchSize: 0, oldestInteractive: entry('i1', 'interactive') };
    expect(decideAdmission(onlyInteractive, { priority: 'interactive' }, { capacity: 2, policy: 'drop-lru' })).toEqual({
      kind: 'evict-then-admit',
      victim: onlyInteractive.oldestInteractive,
    });
  });

  it('admission - drop-lru with only interactive queued: batch never displaces interactive', () => {
    const onlyInteractive = { size: 2, batchSize: 0, oldestInteractive: entry('i1', 'interactive') };
    expect(decideAdmission(onlyInteractive, { priority: 'batch' }, { capacity: 2, policy: 'drop-lru' })).toEqual({
      kind: 'reject',
      code: 'QUEUE_FULL_DROP_LRU',
    });
  });

  it('admission - capacity 0 with drop-lru and an empty queue rejects', () => {
    expect(decideAdmission({ size: 0, batchSize: 0 }, { priority: 'interactive' }, { capacity: 0, policy: 'drop-lru' })).toEqual({
      kind: 'reject',
      code: 'QUEUE_FULL_DROP_LRU',
    });
  });

  it('admission - applyAdmission enqueues, evicts the victim, or leaves the queue alone', () => {
    const q = new PriorityQueues();
    const cfg = { capacity: 2, policy: 'drop-lru' as const };
    for (const e of [entry('b1', 'batch'), entry('i1', 'interactive')]) {
      expect(applyAdmission(q, decideAdmission(admissionView(q), e, cfg), e)).toBeUndefined();
    }
    const i2 = entry('i2', 'interactive');
    expect(applyAdmission(q, decideAdmission(admissionView(q), i2, cfg), i2)?.task_id).toBe('b1');
    const b2 = entry('b2', 'batch');
    expect(applyAdmission(q, decideAdmission(admissionView(q), b2, cfg), b2)).toBeUndefined();
    expect(ids(q)).toEqual(['i1', 'i2']);
  });
});

describe('predictStartMs, backoffMs, updateEwma', () => {
  it('predict - a position below the slot count starts ~now, then one service time per wave', () => {
    expect(predictStartMs(0, 1000, 4)).toBe(0);
    expect(predictStartMs(3, 1000, 4)).toBe(0);
    expect(predictStartMs(4, 1000, 4)).toBe(1000);
    expect(predictStartMs(9, 1000, 4)).toBe(2000);
    expect(predictStartMs(2, 500, 0)).toBe(1000); // no slots counts as one
  });

  it('predict - never negative, monotone in position', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 512 }), (a, b, ewma, slots) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const pLo = predictStartMs(lo, ewma, slots);
        expect(pLo).toBeGreaterThanOrEqual(0);
        expect(predictStartMs(hi, ewma, slots)).toBeGreaterThanOrEqual(pLo);
      }),
    );
  });

  it('backoff - bounded to [100 ms, 30 s], grows with the queue', () => {
    expect(backoffMs(0, 0, 0)).toBe(MIN_BACKOFF_MS);
    expect(backoffMs(10, 1000, 4)).toBe(2500);
    expect(backoffMs(100_000, 10_000, 1)).toBe(MAX_BACKOFF_MS);
    expect(backoffMs(Number.NaN, Number.NaN, Number.NaN)).toBeGreaterThanOrEqual(MIN_BACKOFF_MS);
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.double({ min: 0, max: 1e7, noNaN: true }), fc.integer({ min: 0, max: 10_000 }), (queued, ewma, slots) => {
        const ms = backoffMs(queued, ewma, slots);
        expect(Number.isInteger(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(MIN_BACKOFF_MS);
        expect(ms).toBeLessThanOrEqual(MAX_BACKOFF_MS);
        expect(backoffMs(queued + 1, ewma, slots)).toBeGreaterThanOrEqual(ms);
      }),
    );
  });

  it('ewma - first sample is taken as is, then moves by alpha towards each sample', () => {
    expect(updateEwma(undefined, 500)).toBe(500);
    expect(updateEwma(1000, 2000)).toBeCloseTo(1200);
    expect(updateEwma(1000, 2000, 0.5)).toBeCloseTo(1500);
    expect(updateEwma(1000, Number.NaN)).toBe(1000);
    expect(updateEwma(1000, -5, 1)).toBe(0);
  });

  it('ewma - stays between the previous value and the sample', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (prev, sample, alpha) => {
        const next = updateEwma(prev, sample, alpha);
        expect(next).toBeGreaterThanOrEqual(Math.min(prev, sample) - 1e-6);
        expect(next).toBeLessThanOrEqual(Math.max(prev, sample) + 1e-6);
      }),
    );
  });
});

// ---------- properties over random operation sequences ----------

type Op =
  | { op: 'submit'; priority: Priority; ttl: number }
  | { op: 'cancel'; pick: number }
  | { op: 'dispatch' }
  | { op: 'retry'; pick: number }
  | { op: 'expire'; advance: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('submit' as const), priority: fc.constantFrom<Priority>('interactive', 'batch'), ttl: fc.integer({ min: 1, max: 50 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dispatch' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('retry' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const), advance: fc.integer({ min: 0, max: 20 }) }) },
);

describe('admission properties', () => {
  it('admission - random operation sequences keep every queue invariant', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom<AdmissionPolicyName>('reject', 'drop-lru'),
        fc.array(opArb, { maxLength: 80 }),
        (capacity, policy, ops) => {
          const q = new PriorityQueues();
          // Reference model: plain arrays per priority, the obvious FIFO.
          const model: Record<Priority, QueueEntry[]> = { interactive: [], batch: [] };
          const running: QueueEntry[] = [];
          let requeued = 0;
          let now = 0;
          let seq = 0;
          const removeFromModel = (id: string): void => {
            for (const p of ['interactive', 'batch'] as const) model[p] = model[p].filter((e) => e.task_id !== id);
          };

          for (const o of ops) {
            if (o.op === 'submit') {
              const e = entry(`t${seq++}`, o.priority, now, now + o.ttl);
              const d = decideAdmission(admissionView(q), e, { capacity, policy });
              if (d.kind === 'evict-then-admit') {
                expect(policy).toBe('drop-lru');
                // drop-lru never evicts interactive work while batch work is queued.
                expect(d.victim.priority === 'interactive' && q.sizeOf('batch') > 0).toBe(false);
                // Batch never displaces interactive.
                expect(d.victim.priority === 'interactive' && e.priority === 'batch').toBe(false);
              }
              if (d.kind === 'reject') expect(d.code).toBe(policy === 'reject' ? 'ADMISSION_REJECT' : 'QUEUE_FULL_DROP_LRU');
              const sizeBefore = q.size;
              const victim = applyAdmission(q, d, e);
              if (victim !== undefined) removeFromModel(victim.task_id);
              if (d.kind !== 'reject') model[e.priority].push(e);
              // Admission never grows the queue past its capacity.
              expect(q.size).toBeLessThanOrEqual(Math.max(capacity, sizeBefore));
            } else if (o.op === 'cancel') {
              const all = [...model.interactive, ...model.batch];
              if (all.length === 0) continue;
              const target = all[o.pick % all.length]!;
              expect(q.remove(target.task_id)).toBe(target);
              removeFromModel(target.task_id);
            } else if (o.op === 'dispatch') {
              const head = [...q.inDispatchOrder()][0];
              if (head === undefined) continue;
              expect(q.remove(head.task_id)).toBe(head);
              removeFromModel(head.task_id);
              running.push(head);
            } else if (o.op === 'retry') {
              if (running.length === 0) continue;
              // Failed before its first token: back to the front of its priority, capacity or not.
              const [target] = running.splice(o.pick % running.length, 1);
              q.requeueFront(target!);
              model[target!.priority].unshift(target!);
              requeued += 1;
            } else {
              now += o.advance;
              const expected = [...model.interactive, ...model.batch].filter((e) => e.deadline_at <= now);
              const expired = q.expire(now);
              expect(expired).toEqual(expected);
              for (const e of expired) removeFromModel(e.task_id);
            }

            // Bounded: never above capacity, except what requeueFront put back.
            expect(q.size).toBeLessThanOrEqual(capacity + requeued);
            // FIFO within each priority, interactive before batch (the reference model agrees).
            const order = [...q.inDispatchOrder()];
            expect(order).toEqual([...model.interactive, ...model.batch]);
            expect(q.size).toBe(order.length);
            expect(q.sizeOf('interactive')).toBe(model.interactive.length);
            expect(q.sizeOf('batch')).toBe(model.batch.length);
            // Positions are exactly 0..size-1, in dispatch order.
            expect(order.map((e) => q.position(e.task_id))).toEqual(order.map((_, i) => i));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
