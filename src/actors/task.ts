/**
 * TaskActor: one attempt of one in-flight task. It starts the relay (engine → events) when it
 * starts, answers cancel while tokens flow, and reports exactly one outcome to placement before it
 * stops. A crash is reported by its supervisor instead, so placement always gets its slot back.
 */
import { z } from 'zod';
import { TaskOutcomeSchema, type CancelReply, type TaskDispatch, type TaskOutcome } from '../protocols/index.js';
import type { EngineAdapter } from '../engines/index.js';
import type { EventLog } from '../transport/index.js';
import type { ActorRef, Behavior } from './types.js';
import type { PlacementMsg } from './placement.js';
import { relayTask } from './task-relay.js';

/** Messages of a TaskActor. */
export const TaskMsgSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('task.cancel') }),
  z.object({ type: z.literal('relay.done'), outcome: TaskOutcomeSchema }),
  z.object({ type: z.literal('relay.crashed'), message: z.string() }),
]);
export type TaskMsg = z.infer<typeof TaskMsgSchema>;

/** What a TaskActor needs. */
export interface TaskDeps {
  events: EventLog;
  adapterFor: (dispatch: TaskDispatch) => EngineAdapter;
  placement: ActorRef<PlacementMsg>;
  idleTimeoutMs: number;
}

interface TaskState {
  controller: AbortController;
  canceled: boolean;
  /** The relay has returned: nothing is left to abort. */
  finished: boolean;
  done: Promise<TaskOutcome | undefined>;
}

/** The behavior of the TaskActor running `dispatch`. */
export function taskBehavior(deps: TaskDeps, dispatch: TaskDispatch): Behavior<TaskState, TaskMsg> {
  const taskId = dispatch.spec.task_id;
  return {
    schema: TaskMsgSchema,
    init(ctx) {
      const state: TaskState = { controller: new AbortController(), canceled: false, finished: false, done: Promise.resolve(undefined) };
      state.done = relayTask({
        dispatch,
        adapter: deps.adapterFor(dispatch),
        events: deps.events,
        clock: ctx.clock,
        signal: state.controller.signal,
        isCanceled: () => state.canceled,
        idleTimeoutMs: deps.idleTimeoutMs,
      }).then(
        (outcome) => {
          state.finished = true;
          ctx.self.tell({ type: 'relay.done', outcome });
          return outcome;
        },
        (err: unknown) => {
          state.finished = true;
          ctx.self.tell({ type: 'relay.crashed', message: err instanceof Error ? err.message : String(err) });
          return undefined;
        },
      );
      return state;
    },
    receive(state, msg, ctx) {
      switch (msg.type) {
        case 'task.cancel':
          state.canceled = true;
          state.controller.abort();
          ctx.reply(state.done.then((o): CancelReply['outcome'] => (o?.kind === 'canceled' ? 'stopped' : 'already_ended')));
          return state;
        case 'relay.done':
          deps.placement.tell({ type: 'task.exited', task_id: taskId, outcome: msg.outcome });
          ctx.stopSelf();
          return state;
        case 'relay.crashed':
          // A defect in the relay: crash, and let the supervisor report it.
          throw new Error(`relay of task ${taskId} failed: ${msg.message}`);
      }
    },
    onStop(state) {
      // Aborting a finished relay's signal would only run its listeners (a visible cost per task).
      if (state !== undefined && !state.finished) state.controller.abort();
    },
  };
}
