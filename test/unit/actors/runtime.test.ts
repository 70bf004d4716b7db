import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { ChildEscalatedError, startActorSystem } from '../../../src/actors/runtime.js';
import type {
  ActorRef,
  ActorSystem,
  Behavior,
  ChildExit,
  ChildFailure,
  ChildOptions,
  Directive,
  StopReason,
} from '../../../src/actors/types.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';

const silent = pino({ level: 'silent' });

/** Lets queued handlers run (drains that yielded go through nact, one setImmediate each). */
async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Waits, turn by turn, until `cond` holds; fails instead of hanging. */
async function until(cond: () => boolean, what: string, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Tracks whether a promise has settled, without letting a rejection go unhandled. */
function track<T>(p: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, result: p };
}

type CounterMsg =
  | { type: 'inc' }
  | { type: 'get' }
  | { type: 'boom'; message?: string }
  | { type: 'note'; text: string }
  | { type: 'stop-self' };

interface CounterState {
  n: number;
  notes: string[];
}

const CounterMsgSchema: z.ZodType<CounterMsg> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('inc') }),
  z.object({ type: z.literal('get') }),
  z.object({ type: z.literal('boom'), message: z.string().optional() }),
  z.object({ type: z.literal('note'), text: z.string() }),
  z.object({ type: z.literal('stop-self') }),
]);

/** A counter that records its lifecycle in `events`. */
function counter(events: string[] = [], withSchema = false): Behavior<CounterState, CounterMsg> {
  return spy<CounterState, CounterMsg>({
    ...(withSchema ? { schema: CounterMsgSchema } : {}),
    init: () => {
      events.push('init');
      return { n: 0, notes: [] };
    },
    receive: (s, msg, ctx) => {
      switch (msg.type) {
        case 'inc':
          return { ...s, n: s.n + 1 };
        case 'get':
          ctx.reply(s);
          return s;
        case 'boom':
          throw new Error(msg.message ?? 'boom');
        case 'note':
          events.push(`note:${msg.text}`);
          return { ...s, notes: [...s.notes, msg.text] };
        case 'stop-self':
          ctx.stopSelf();
          return s;
      }
    },
    onStop: (s, reason) => {
      events.push(`stop:${reason.kind}:${s?.n ?? '-'}`);
    },
  });
}

type ParentMsg = { type: 'children' } | { type: 'spawn'; name: string };

interface ParentHooks {
  supervise?: (f: ChildFailure) => Directive;
  exits?: ChildExit[];
  onExit?: (exit: ChildExit) => void;
  events?: string[];
  child?: () => Behavior<CounterState, CounterMsg>;
  childKind?: 'permanent' | 'transient' | 'temporary';
  childOptions?: Partial<ChildOptions>;
}

/** A parent that spawns one child `c` in init and reports exits. */
function parent(h: ParentHooks): Behavior<null, ParentMsg> {
  const events = h.events ?? [];
  return spy({
    init: (ctx) => {
      events.push('parent:init');
      ctx.spawn('c', (h.child ?? (() => counter(events)))(), {
        kind: h.childKind ?? 'permanent',
        ...h.childOptions,
      });
      return null;
    },
    receive: (s, msg, ctx) => {
      if (msg.type === 'children') ctx.reply(ctx.children());
      else ctx.spawn(msg.name, counter(events), { kind: 'temporary' });
      return s;
    },
    ...(h.supervise ? { supervise: h.supervise } : {}),
    onChildExit: (s, exit) => {
      h.exits?.push(exit);
      h.onExit?.(exit);
      return s;
    },
    onStop: (_s, reason) => {
      events.push(`parent:stop:${reason.kind}`);
    },
  });
}

let clock: VirtualClock;
let system: ActorSystem;
let fatal: Array<{ path: string; error: unknown }>;

beforeEach(() => {
  byPath.clear();
  clock = new VirtualClock();
  fatal = [];
  system = startActorSystem({
    name: 'test',
    clock,
    log: silent,
    random: () => 0.5, // no jitter: delays are exactly min * 2^n
    onFatal: (path, error) => fatal.push({ path, error }),
  });
});

afterEach(async () => {
  await system.stop();
});

describe('runtime - messages', () => {
  it('processes one message at a time, in order, even with async receive', async () => {
    const log: string[] = [];
    const ref = system.spawn<number[], number>(
      'seq',
      {
        init: () => [],
        receive: async (seen, n, ctx) => {
          log.push(`start:${n}`);
          // Earlier messages wait longer: any overlap would reorder the log.
          for (let i = 0; i < 10 - n; i++) await new Promise<void>((r) => setImmediate(r));
          log.push(`end:${n}`);
          if (n === 9) ctx.reply([...seen, n]);
          return [...seen, n];
        },
      },
      { kind: 'permanent' },
    );
    for (let n = 0; n < 9; n++) ref.tell(n);
    const seen = await ref.ask<number[]>(9);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(log).toEqual(Array.from({ length: 10 }, (_, n) => [`start:${n}`, `end:${n}`]).flat());
  });

  it('starts handling a message to an idle actor in the same turn, before the next setImmediate', async () => {
    let seenByNextTurn: number | undefined;
    const nextTurn = new Promise<void>((resolve) =>
      setImmediate(() => {
        seenByNextTurn = handledIncs;
        resolve();
      }),
    );
    let handledIncs = 0;
    const tracked = system.spawn<null, 'inc'>('same-turn-count', { init: () => null, receive: (s) => ((handledIncs += 1), s) }, { kind: 'permanent' });
    tracked.tell('inc');
    tracked.tell('inc');
    await nextTurn;
    // The spawn's init and both messages ran as microtasks, before a callback queued earlier.
    expect(seenByNextTurn).toBe(2);
  });

  it('starts at most 1,024 drains per turn as microtasks, and the rest in later turns', async () => {
    // Microtasks never yield to I/O by themselves: the budget is what keeps a burst of messages to
    // many idle actors (or actors that keep telling each other) from starving sockets and timers.
    let handled = 0;
    const refs = Array.from({ length: 1_500 }, (_, i) =>
      system.spawn<null, 'go'>(`burst-${i}`, { init: () => null, receive: (s) => ((handled += 1), s) }, { kind: 'permanent' }),
    );
    await until(() => refs.every((r) => r.alive), 'spawns');
    await new Promise<void>((r) => setImmediate(r)); // a fresh turn: inits are done
    let handledByNextTurn: number | undefined;
    const nextTurn = new Promise<void>((resolve) =>
      setImmediate(() => {
        handledByNextTurn = handled;
        resolve();
      }),
    );
    for (const ref of refs) ref.tell('go');
    await nextTurn;
    expect(handledByNextTurn).toBe(1_024);
    await until(() => handled === 1_500, 'the rest');
  });

  it('handles every message that arrived before a turn within that turn, yielding after a full batch', async () => {
    const ref = system.spawn('batch', counter(), { kind: 'permanent' });
    await ref.ask({ type: 'get' }); // initialised and idle
    const read = (): Promise<CounterState> => ref.ask<CounterState>({ type: 'get' });
    for (let i = 0; i < 100; i++) ref.tell({ type: 'inc' });
    // One drain handles all 100 (nact alone would handle one message per turn).
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    expect((await read()).n).toBe(100);
    // 600 messages: a drain stops after 256 and lets the loop run before it takes the rest.
    let handled = 0;
    const counted = system.spawn<null, 'inc'>('batch-count', { init: () => null, receive: (s) => ((handled += 1), s) }, { kind: 'permanent' });
    await until(() => counted.alive, 'spawn');
    await new Promise<void>((r) => setImmediate(r));
    for (let i = 0; i < 600; i++) counted.tell('inc');
    const seen: number[] = [];
    await until(() => {
      seen.push(handled);
      return handled === 600;
    }, 'all 600 handled');
    expect(seen).toContain(256);
    expect(seen).toContain(512);
  });

  it('carries state from one message to the next and answers asks', async () => {
    const ref = system.spawn('counter', counter(), { kind: 'permanent' });
    ref.tell({ type: 'inc' });
    ref.tell({ type: 'inc' });
    ref.tell({ type: 'inc' });
    await expect(ref.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 3, notes: [] });
    expect(ref.name).toBe('counter');
    expect(ref.path).toBe('test/counter');
    expect(ref.alive).toBe(true);
  });

  it('rejects an ask that gets no reply after the timeout, on the injected clock', async () => {
    const ref = system.spawn('mute', counter(), { kind: 'permanent' });
    const asked = track(ref.ask({ type: 'inc' }, 1000)); // `inc` never replies
    const defaulted = track(ref.ask({ type: 'inc' }));
    await ref.ask({ type: 'get' }); // both were handled
    expect(clock.pending()).toBe(2);
    expect(clock.nextDue()).toBe(clock.now() + 1000);
    clock.advance(999);
    await flush();
    expect(asked.settled()).toBe(false);
    clock.advance(1);
    await expect(asked.result).rejects.toThrow('ask timed out after 1000 ms');
    expect(defaulted.settled()).toBe(false);
    clock.advance(4000);
    await expect(defaulted.result).rejects.toThrow('ask timed out after 5000 ms');
    // The actor is fine.
    ref.tell({ type: 'inc' });
    const state = ref.ask<CounterState>({ type: 'get' });
    await expect(state).resolves.toMatchObject({ n: 3 });
  });

  it('drops an invalid message with one warning, without crashing (tell and ask)', async () => {
    const lines: string[] = [];
    const sys = startActorSystem({
      name: 'warn',
      clock,
      log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }),
    });
    const events: string[] = [];
    const ref = sys.spawn('typed', counter(events, true), { kind: 'permanent' });
    ref.tell({ type: 'inc' });
    ref.tell({ type: 'nope' } as unknown as CounterMsg);
    await expect(ref.ask({ type: 'note', text: 42 } as unknown as CounterMsg)).rejects.toThrow(
      /invalid message/,
    );
    ref.tell({ type: 'inc' });
    await expect(ref.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 2, notes: [] });
    const warnings = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.actor === 'warn/typed' && w.msg === 'invalid message dropped')).toBe(true);
    expect(String(warnings[1]!.issues)).toContain('text');
    expect(events).toEqual(['init']); // never crashed, never restarted
    await sys.stop();
  });

  it('rejects an ask to a stopped actor at once; tell to it never throws', async () => {
    const ref = system.spawn('gone', counter(), { kind: 'permanent' });
    await ref.stop();
    expect(ref.alive).toBe(false);
    expect(() => ref.tell({ type: 'inc' })).not.toThrow();
    await expect(ref.ask({ type: 'get' })).rejects.toThrow(/stopped/);
  });

  it('rejects pending asks when the actor stops', async () => {
    const gate = deferred<void>();
    const ref = system.spawn<null, string>(
      'slow',
      { init: () => null, receive: async (s) => (await gate.promise, s) },
      { kind: 'permanent' },
    );
    ref.tell('first');
    const pending = ref.ask('second');
    await ref.stop();
    await expect(pending).rejects.toThrow(/stopped/);
    gate.resolve();
  });
});

describe('runtime - supervision', () => {
  it('resume keeps the state and drops the message; the ask gets the crash error', async () => {
    const failures: ChildFailure[] = [];
    const events: string[] = [];
    const top = system.spawn(
      'p',
      parent({
        events,
        supervise: (f) => (failures.push(f), 'resume'),
      }),
      { kind: 'permanent' },
    );
    await until(() => events.includes('init'), 'child init');
    const child = await childOf(top);
    child.tell({ type: 'inc' });
    await expect(child.ask({ type: 'boom', message: 'kaput' })).rejects.toThrow('kaput');
    child.tell({ type: 'inc' });
    await expect(child.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 2, notes: [] });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ child: 'c', restartsInWindow: 0 });
    expect((failures[0]!.error as Error).message).toBe('kaput');
    expect(events).toEqual(['parent:init', 'init']); // no restart, no onStop
    expect(clock.pending()).toBe(0);
  });

  it('a crash cancels a stopSelf made by the failed handler', async () => {
    const ref = system.spawn<number, 'quit-and-crash' | 'get'>(
      'q',
      {
        init: () => 7,
        receive: (s, msg, ctx) => {
          if (msg === 'get') ctx.reply(s);
          else {
            ctx.stopSelf();
            throw new Error('changed my mind');
          }
          return s;
        },
        supervise: () => 'resume', // never consulted: the root supervises top-level actors
      },
      { kind: 'transient' },
    );
    ref.tell('quit-and-crash');
    await until(() => clock.pending() === 1, 'backoff timer');
    clock.advance(100);
    await expect(ref.ask('get')).resolves.toBe(7);
    expect(ref.alive).toBe(true);
  });

  it('restart waits the backoff, runs onStop, resets state and then delivers buffered messages', async () => {
    const events: string[] = [];
    const ref = system.spawn('r', counter(events), { kind: 'permanent' });
    ref.tell({ type: 'inc' });
    ref.tell({ type: 'inc' });
    ref.tell({ type: 'boom' });
    ref.tell({ type: 'note', text: 'a' });
    ref.tell({ type: 'note', text: 'b' });
    await until(() => clock.pending() === 1, 'backoff timer');
    const crashedAt = clock.now();
    expect(clock.nextDue()).toBe(crashedAt + 100); // default minBackoffMs, no jitter
    ref.tell({ type: 'note', text: 'c' }); // arrives during the backoff
    clock.advance(99);
    await flush();
    expect(events).toEqual(['init']);
    expect(ref.alive).toBe(true);
    clock.advance(1);
    const state = await ref.ask<CounterState>({ type: 'get' }); // same ref, new incarnation
    expect(state).toEqual({ n: 0, notes: ['a', 'b', 'c'] });
    expect(events).toEqual(['init', 'stop:crashed:2', 'init', 'note:a', 'note:b', 'note:c']);
  });

  it('backoff doubles with each restart inside the window', async () => {
    const events: string[] = [];
    const ref = system.spawn('r', counter(events), {
      kind: 'permanent',
      restart: { maxRestarts: 5, withinMs: 60_000 },
      backoff: { minBackoffMs: 100, maxBackoffMs: 250, randomFactor: 0.2 },
    });
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      ref.tell({ type: 'boom' });
      await until(() => clock.pending() === 1, 'backoff timer');
      delays.push(clock.nextDue()! - clock.now());
      clock.runAll();
      await ref.ask({ type: 'get' });
    }
    expect(delays).toEqual([100, 200, 250]);
  });

  it('drops messages beyond maxBuffered while restarting', async () => {
    const events: string[] = [];
    const ref = system.spawn('r', counter(events), { kind: 'permanent', maxBuffered: 2 });
    ref.tell({ type: 'boom' });
    await until(() => clock.pending() === 1, 'backoff timer');
    for (const text of ['a', 'b', 'c', 'd']) ref.tell({ type: 'note', text });
    await expect(ref.ask({ type: 'get' })).rejects.toThrow(/buffer is full/);
    clock.runAll();
    await until(() => events.includes('note:b'), 'buffered messages delivered');
    const state = await ref.ask<CounterState>({ type: 'get' });
    expect(state.notes).toEqual(['a', 'b']);
    expect(events).toEqual(['init', 'stop:crashed:0', 'init', 'note:a', 'note:b']);
  });

  it('a crash in init is supervised like any other', async () => {
    let attempts = 0;
    const ref = system.spawn<number, 'get'>(
      'flaky-init',
      {
        init: () => {
          attempts++;
          if (attempts < 3) throw new Error('not yet');
          return attempts;
        },
        receive: (s, _m, ctx) => (ctx.reply(s), s),
      },
      { kind: 'permanent' },
    );
    await until(() => clock.pending() === 1, 'first backoff');
    clock.advance(100);
    await until(() => attempts === 2 && clock.pending() === 1, 'second backoff');
    clock.advance(200);
    await expect(ref.ask('get')).resolves.toBe(3);
  });

  it('exceeding the restart limit escalates: the grandparent restarts the parent', async () => {
    const events: string[] = [];
    const grandFailures: ChildFailure[] = [];
    const grand = system.spawn<null, never>(
      'g',
      {
        init: (ctx) => {
          ctx.spawn('p', parent({ events, childOptions: { restart: { maxRestarts: 1, withinMs: 10_000 } } }), {
            kind: 'permanent',
          });
          return null;
        },
        receive: (s) => s,
        supervise: (f) => (grandFailures.push(f), 'restart'),
      },
      { kind: 'permanent' },
    );
    await until(() => events.includes('init'), 'child init');
    const p = await childOf<ParentMsg>(grand, 'p');
    const c1 = await childOf(p);
    c1.tell({ type: 'boom', message: 'one' });
    await until(() => clock.pending() === 1, 'child backoff');
    clock.advance(100);
    await c1.ask({ type: 'get' });
    c1.tell({ type: 'boom', message: 'two' }); // second crash inside the window: escalate
    await until(() => grandFailures.length === 1, 'escalation');
    const failure = grandFailures[0]!;
    expect(failure.child).toBe('p');
    expect(failure.error).toBeInstanceOf(ChildEscalatedError);
    expect((failure.error as ChildEscalatedError).child).toBe('test/g/p/c');
    expect(((failure.error as Error).cause as Error).message).toBe('two');
    expect(c1.alive).toBe(false); // the escalating child is gone
    await until(() => clock.pending() === 1, 'parent backoff');
    clock.advance(100);
    await until(() => events.filter((e) => e === 'parent:init').length === 2, 'parent restart');
    expect(p.alive).toBe(true); // same ref, new incarnation
    const c2 = await childOf(p);
    await expect(c2.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 0, notes: [] });
    expect(events).toEqual([
      'parent:init',
      'init',
      'stop:crashed:0', // restart 1 of c
      'init',
      'stop:escalated:0', // c escalates
      'parent:stop:crashed', // p restarts
      'parent:init',
      'init',
    ]);
    expect(fatal).toEqual([]);
  });

  it('an escalation the grandparent answers with stop reaches its onChildExit', async () => {
    const exit = deferred<ChildExit>();
    const events: string[] = [];
    system.spawn<null, never>(
      'g',
      spy({
        init: (ctx) => {
          ctx.spawn('p', parent({ events, childOptions: { restart: { maxRestarts: 0, withinMs: 1000 } } }), {
            kind: 'permanent',
          });
          return null;
        },
        receive: (s) => s,
        supervise: () => 'stop',
        onChildExit: (s, e) => (exit.resolve(e), s),
      }),
      { kind: 'permanent' },
    );
    await until(() => events.includes('init'), 'child init');
    // Reach the grandchild through the tree: crash it.
    const grand = await childOfSystem('g');
    const p = await childOf<ParentMsg>(grand, 'p');
    (await childOf(p)).tell({ type: 'boom' });
    const e = await exit.promise;
    expect(e.child).toBe('p');
    expect(e.reason.kind).toBe('crashed');
    expect((e.reason as { error: unknown }).error).toBeInstanceOf(ChildEscalatedError);
    expect(p.alive).toBe(false);
    expect(events).toEqual(['parent:init', 'init', 'stop:escalated:0', 'parent:stop:crashed']);
  });

  it('a temporary child is never restarted; the parent gets onChildExit with the crash', async () => {
    const events: string[] = [];
    const exit = deferred<ChildExit>();
    const top = system.spawn('p', parent({ events, childKind: 'temporary', onExit: exit.resolve }), {
      kind: 'permanent',
    });
    await until(() => events.includes('init'), 'child init');
    const child = await childOf(top);
    child.tell({ type: 'boom', message: 'host lost' });
    const e = await exit.promise;
    expect(e.child).toBe('c');
    expect(e.reason.kind).toBe('crashed');
    expect(((e.reason as { error: unknown }).error as Error).message).toBe('host lost');
    expect(child.alive).toBe(false);
    await expect(top.ask({ type: 'children' })).resolves.toEqual([]);
    expect(clock.pending()).toBe(0);
    expect(events).toEqual(['parent:init', 'init', 'stop:crashed:0']);
  });

  it('a transient child that stops normally is not restarted; the parent gets reason normal', async () => {
    const events: string[] = [];
    const exit = deferred<ChildExit>();
    const top = system.spawn('p', parent({ events, childKind: 'transient', onExit: exit.resolve }), {
      kind: 'permanent',
    });
    await until(() => events.includes('init'), 'child init');
    const child = await childOf(top);
    child.tell({ type: 'inc' });
    child.tell({ type: 'stop-self' });
    child.tell({ type: 'note', text: 'after stop' });
    await expect(exit.promise).resolves.toEqual({ child: 'c', reason: { kind: 'normal' } });
    expect(child.alive).toBe(false);
    expect(clock.pending()).toBe(0);
    expect(events).toEqual(['parent:init', 'init', 'stop:normal:1']);
  });

  it('a permanent child that stops itself is restarted (OTP), without onChildExit', async () => {
    const events: string[] = [];
    const exits: ChildExit[] = [];
    const top = system.spawn('p', parent({ events, exits }), { kind: 'permanent' });
    await until(() => events.includes('init'), 'child init');
    const child = await childOf(top);
    child.tell({ type: 'stop-self' });
    await until(() => clock.pending() === 1, 'backoff');
    clock.advance(100);
    await expect(child.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 0, notes: [] });
    expect(events).toEqual(['parent:init', 'init', 'stop:normal:0', 'init']);
    expect(exits).toEqual([]);
  });

  it('a top-level actor that escalates calls onFatal and stops', async () => {
    const events: string[] = [];
    const ref = system.spawn('top', counter(events), {
      kind: 'permanent',
      restart: { maxRestarts: 0, withinMs: 1000 },
    });
    ref.tell({ type: 'boom', message: 'fatal' });
    await until(() => fatal.length === 1, 'onFatal');
    expect(fatal[0]!.path).toBe('test/top');
    expect((fatal[0]!.error as Error).message).toBe('fatal');
    expect(ref.alive).toBe(false);
    expect(events).toEqual(['init', 'stop:escalated:0']);
  });

  it('a supervisor that throws escalates', async () => {
    const events: string[] = [];
    system.spawn(
      'p',
      parent({
        events,
        supervise: () => {
          throw new Error('bad supervisor');
        },
      }),
      { kind: 'temporary' },
    );
    await until(() => events.includes('init'), 'child init');
    const p = await childOfSystem('p');
    (await childOf(p)).tell({ type: 'boom' });
    // p crashes with the escalation; as a temporary top-level actor the root stops it.
    await until(() => !p.alive, 'parent stopped');
    expect(events).toEqual(['parent:init', 'init', 'stop:escalated:0', 'parent:stop:crashed']);
  });
});

describe('runtime - stopping', () => {
  it('onStop runs on stop, and stop() resolves after it', async () => {
    const events: string[] = [];
    const ref = system.spawn('s', counter(events), { kind: 'permanent' });
    ref.tell({ type: 'inc' });
    await ref.ask({ type: 'get' });
    await ref.stop();
    expect(events).toEqual(['init', 'stop:normal:1']);
    await ref.stop(); // idempotent
    expect(events).toHaveLength(2);
  });

  it('stop() stops children before their parent; children get parent-stopped', async () => {
    const order: Array<[string, StopReason['kind']]> = [];
    const node = (depth: number): Behavior<null, never> =>
      spy({
        init: (ctx) => {
        if (depth < 2) ctx.spawn(`n${depth + 1}`, node(depth + 1), { kind: 'permanent' });
        return null;
      },
      receive: (s) => s,
      onStop: async (_s, reason, ctx) => {
        await new Promise<void>((r) => setImmediate(r)); // async cleanup is awaited
        order.push([ctx.path, reason.kind]);
      },
    });
    const root = system.spawn('n0', node(0), { kind: 'permanent' });
    const n1 = await childOf<never>(root, 'n1');
    const n2 = await childOf<never>(n1, 'n2');
    await root.stop();
    expect(order).toEqual([
      ['test/n0/n1/n2', 'parent-stopped'],
      ['test/n0/n1', 'parent-stopped'],
      ['test/n0', 'normal'],
    ]);
    expect([root.alive, n1.alive, n2.alive]).toEqual([false, false, false]);
  });

  it('a parent that stops a child normally gets onChildExit with reason normal', async () => {
    const exit = deferred<ChildExit>();
    const events: string[] = [];
    const top = system.spawn('p', parent({ events, onExit: exit.resolve }), { kind: 'permanent' });
    await until(() => events.includes('init'), 'child init');
    await (await childOf(top)).stop();
    await expect(exit.promise).resolves.toEqual({ child: 'c', reason: { kind: 'normal' } });
  });

  it('a sibling name is unique while alive and reusable after stop', async () => {
    const first = system.spawn('pool:a', counter(), { kind: 'permanent' });
    expect(() => system.spawn('pool:a', counter(), { kind: 'permanent' })).toThrow(/already exists/);
    first.tell({ type: 'inc' });
    await first.stop();
    const second = system.spawn('pool:a', counter(), { kind: 'permanent' });
    await expect(second.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 0, notes: [] });
    expect(first.alive).toBe(false);
    expect(second.alive).toBe(true);
    await expect(first.ask({ type: 'get' })).rejects.toThrow(/stopped/);
  });

  it('a parent can respawn a child under the same name from onChildExit', async () => {
    const events: string[] = [];
    const respawned = deferred<void>();
    const top = system.spawn<null, 'spawn'>(
      'p',
      {
        init: (ctx) => (ctx.spawn('host:1', counter(events), { kind: 'temporary' }), null),
        receive: (s) => s,
        onChildExit: (s, exit, ctx) => {
          if (events.filter((e) => e === 'init').length === 1) {
            ctx.spawn(exit.child, counter(events), { kind: 'temporary' });
            respawned.resolve();
          }
          return s;
        },
      },
      { kind: 'permanent' },
    );
    const c1 = await childOf<CounterMsg>(top, 'host:1');
    c1.tell({ type: 'boom' });
    await respawned.promise;
    const c2 = await childOf<CounterMsg>(top, 'host:1');
    await expect(c2.ask<CounterState>({ type: 'get' })).resolves.toEqual({ n: 0, notes: [] });
    expect(c1.alive).toBe(false);
  });

  it('system.stop() stops everything and refuses new spawns', async () => {
    const events: string[] = [];
    const top = system.spawn('p', parent({ events }), { kind: 'permanent' });
    await until(() => events.includes('init'), 'child init');
    await system.stop();
    expect(events).toEqual(['parent:init', 'init', 'stop:parent-stopped:0', 'parent:stop:parent-stopped']);
    expect(top.alive).toBe(false);
    expect(() => system.spawn('late', counter(), { kind: 'permanent' })).toThrow(/stopped/);
  });

  it('a stop during the restart backoff cancels the restart', async () => {
    const events: string[] = [];
    const ref = system.spawn('r', counter(events), { kind: 'permanent' });
    ref.tell({ type: 'boom' });
    await until(() => clock.pending() === 1, 'backoff timer');
    await ref.stop();
    expect(clock.pending()).toBe(0);
    expect(events).toEqual(['init', 'stop:normal:0']);
  });
});

// --- reaching into the tree -----------------------------------------------------------------

/** Refs by path, recorded by {@link spy} when an incarnation starts (refs survive restarts). */
const byPath = new Map<string, ActorRef<unknown>>();

/** Records `ctx.self` on every init, so tests can reach children without a message for it. */
function spy<S, M>(b: Behavior<S, M>): Behavior<S, M> {
  return {
    ...b,
    init: (ctx) => {
      byPath.set(ctx.path, ctx.self);
      return b.init(ctx);
    },
  };
}

/** Waits until the child at `<parent>/<name>` is alive and returns its ref. */
async function childOf<M = CounterMsg>(ref: { path: string }, name = 'c'): Promise<ActorRef<M>> {
  const path = `${ref.path}/${name}`;
  await until(() => byPath.get(path)?.alive === true, path);
  return byPath.get(path) as ActorRef<M>;
}

/** The top-level actor `name`. */
function childOfSystem(name: string): Promise<ActorRef<ParentMsg>> {
  return childOf<ParentMsg>({ path: 'test' }, name);
}
