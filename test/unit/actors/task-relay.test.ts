/**
 * The relay's token batching: tokens that arrive within one turn go out as one event at the end of
 * the turn, except the first burst of an attempt, which goes out as soon as the adapter says the
 * engine has nothing more buffered (`burstEnd`): time to first token.
 */
import { describe, expect, it } from 'vitest';
import { relayTask } from '../../../src/actors/task-relay.js';
import { systemClock } from '../../../src/actors/runtime.js';
import { EngineError, type EngineAdapter, type EngineChunk } from '../../../src/engines/index.js';
import type { TaskDispatch, TaskEvent } from '../../../src/protocols/index.js';
import type { EventLog } from '../../../src/transport/index.js';

const dispatch: TaskDispatch = {
  spec: { task_id: 't1', session_id: 's1', model: 'm', prompt: 'p', max_tokens: 5, priority: 'interactive', deadline_ms: 60_000 },
  correlation_id: 'c1',
  replica: { replica_id: 'r1', pool_id: 'p1', url: 'http://127.0.0.1:1', engine: 'vllm', model: 'm', health: 'ready', slots_total: 4 },
  attempt: 1,
  publish_started: true,
  queue_position: 0,
  predicted_start_ms: 0,
  admitted_at: 0,
};

/** An engine that yields `bursts` one after the other within one turn, marking each burst's end if `marks`. */
function engineWithBursts(bursts: string[][], marks: boolean): EngineAdapter {
  return {
    async *stream(): AsyncGenerator<readonly EngineChunk[]> {
      for (const burst of bursts) {
        yield burst.map((text, k): EngineChunk => (marks && k === burst.length - 1 ? { type: 'token', text, burstEnd: true } : { type: 'token', text }));
        await Promise.resolve(); // the next read, still in the same turn
      }
      yield [{ type: 'end', finish_reason: 'length' }];
    },
  } as unknown as EngineAdapter;
}

/** Records what is published, and for each token event whether it left before the turn ended. */
function recordingLog(): { log: EventLog; events: TaskEvent[]; sameTurn: boolean[] } {
  const events: TaskEvent[] = [];
  const sameTurn: boolean[] = [];
  let turnEnded = false;
  setImmediate(() => (turnEnded = true));
  const log = {
    publish(event: TaskEvent) {
      events.push(event);
      if (event.type === 'token') sameTurn.push(!turnEnded);
    },
    publishDurable(event: TaskEvent) {
      events.push(event);
      return Promise.resolve();
    },
  } as unknown as EventLog;
  return { log, events, sameTurn };
}

async function relay(adapter: EngineAdapter): Promise<{ tokens: unknown[]; sameTurn: boolean[]; types: string[] }> {
  const { log, events, sameTurn } = recordingLog();
  const outcome = await relayTask({
    dispatch,
    adapter,
    events: log,
    clock: systemClock,
    signal: new AbortController().signal,
    isCanceled: () => false,
    idleTimeoutMs: 5_000,
  });
  expect(outcome.kind).toBe('completed');
  return { tokens: events.filter((e) => e.type === 'token').map((e) => e.data), sameTurn, types: events.map((e) => e.type) };
}

describe('relay - token batching', () => {
  it('publishes the first burst the moment the adapter marks its end, and batches the rest of the turn', async () => {
    const { tokens, sameTurn, types } = await relay(engineWithBursts([['a', 'b'], ['c'], ['d', 'e']], true));
    expect(tokens).toEqual([
      { batch: [{ t: 'a', i: 0 }, { t: 'b', i: 1 }] },
      { batch: [{ t: 'c', i: 2 }, { t: 'd', i: 3 }, { t: 'e', i: 4 }] },
    ]);
    expect(sameTurn[0]).toBe(true);
    expect(types).toEqual(['started', 'token', 'token', 'end']);
  });

  it('without marks, batches what arrived within the turn', async () => {
    const { tokens, types } = await relay(engineWithBursts([['a', 'b', 'c'], ['d']], false));
    expect(tokens).toEqual([{ batch: [{ t: 'a', i: 0 }, { t: 'b', i: 1 }, { t: 'c', i: 2 }, { t: 'd', i: 3 }] }]);
    expect(types).toEqual(['started', 'token', 'end']);
  });
});

describe('relay - an attempt started while its record is written', () => {
  /** A deferred boolean: the `recorded` placement settles. */
  function gate(): { promise: Promise<boolean>; settle: (created: boolean) => void } {
    let settle!: (created: boolean) => void;
    const promise = new Promise<boolean>((resolve) => (settle = resolve));
    return { promise, settle };
  }

  /**
   * An engine that notes when its request was sent and when its stream was closed; its first step
   * waits for `answer` (or the abort of the request).
   */
  function trackedEngine(answer: Promise<void>): { adapter: EngineAdapter; sent: Promise<void>; closed: () => boolean } {
    let markSent!: () => void;
    const sent = new Promise<void>((resolve) => (markSent = resolve));
    let closed = false;
    const adapter = {
      async *stream(_req: unknown, signal: AbortSignal): AsyncGenerator<readonly EngineChunk[]> {
        markSent();
        try {
          await new Promise<void>((resolve, reject) => {
            signal.addEventListener('abort', () => reject(new EngineError('aborted', 'aborted')), { once: true });
            void answer.then(resolve);
          });
          yield [{ type: 'token', text: 'a' }];
          yield [{ type: 'end', finish_reason: 'length' }];
        } finally {
          closed = true;
        }
      },
    } as unknown as EngineAdapter;
    return { adapter, sent, closed: () => closed };
  }

  function start(adapter: EngineAdapter, recorded: Promise<boolean>, controller = new AbortController()) {
    const { log, events } = recordingLog();
    const outcome = relayTask({
      dispatch: { ...dispatch, awaiting_record: true },
      adapter,
      events: log,
      clock: systemClock,
      signal: controller.signal,
      isCanceled: () => false,
      idleTimeoutMs: 5_000,
      recorded,
    });
    return { outcome, events };
  }

  it('sends the engine request at once, and publishes nothing until the record exists', async () => {
    const record = gate();
    const engine = trackedEngine(Promise.resolve());
    const { outcome, events } = start(engine.adapter, record.promise);
    await engine.sent;
    // The engine has answered; a turn later nothing has been published yet.
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
    record.settle(true);
    await expect(outcome).resolves.toMatchObject({ kind: 'completed', tokens_out: 1 });
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'end']);
  });

  it('without a record it drops the request, publishes nothing and reports discarded', async () => {
    const record = gate();
    const engine = trackedEngine(new Promise<void>(() => undefined)); // the engine never answers
    const controller = new AbortController();
    const { outcome, events } = start(engine.adapter, record.promise, controller);
    await engine.sent;
    // What the TaskActor does when placement says the record was not created.
    controller.abort();
    record.settle(false);
    await expect(outcome).resolves.toEqual({ kind: 'discarded' });
    expect(events).toEqual([]);
    expect(engine.closed()).toBe(true);
  });

  it('an engine that failed before the record existed is reported once it does (retry, nothing terminal)', async () => {
    const record = gate();
    const adapter = {
      // eslint-disable-next-line require-yield
      async *stream(): AsyncGenerator<readonly EngineChunk[]> {
        throw new EngineError('connect', 'connection refused');
      },
    } as unknown as EngineAdapter;
    const { outcome, events } = start(adapter, record.promise);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
    record.settle(true);
    await expect(outcome).resolves.toMatchObject({ kind: 'retry', error: { code: 'WORKER_RESET' } });
    expect(events.map((e) => e.type)).toEqual(['started']);
  });
});
