/**
 * The relay's token batching: tokens that arrive within one turn go out as one event at the end of
 * the turn, except the first burst of an attempt, which goes out as soon as the adapter says the
 * engine has nothing more buffered (`burstEnd`): time to first token.
 */
import { describe, expect, it } from 'vitest';
import { relayTask } from '../../../src/actors/task-relay.js';
import { systemClock } from '../../../src/actors/runtime.js';
import type { EngineAdapter, EngineChunk } from '../../../src/engines/index.js';
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
