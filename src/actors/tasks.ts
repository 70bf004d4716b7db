/**
 * TaskSupervisor: parent of every TaskActor in this process. TaskActors are temporary children
 * (never restarted: a half-streamed task cannot be replayed); when one crashes the supervisor
 * reports the crash to placement, which ends the task with INTERNAL and frees its slot.
 */
import { z } from 'zod';
import { TaskDispatchSchema, type CancelReply, type TaskDispatch } from '../protocols/index.js';
import type { ActorRef, Behavior } from './types.js';
import type { PlacementMsg } from './placement.js';
import { taskBehavior, type TaskDeps, type TaskMsg } from './task.js';

/** Messages of the TaskSupervisor. */
export const TaskSupervisorMsgSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('task.start'), dispatch: TaskDispatchSchema }),
  z.object({ type: z.literal('task.cancel'), task_id: z.string() }),
  z.object({ type: z.literal('tasks.list') }),
]);
export type TaskSupervisorMsg = z.infer<typeof TaskSupervisorMsgSchema>;

/** What the supervisor needs; `placement` is resolved late because placement needs us first. */
export interface TaskSupervisorDeps extends Omit<TaskDeps, 'placement'> {
  placement: () => ActorRef<PlacementMsg>;
}

interface Running {
  child: string;
  dispatch: TaskDispatch;
}

interface SupervisorState {
  byTask: Map<string, Running>;
  byChild: Map<string, string>;
}

/** The TaskSupervisor's behavior. */
export function taskSupervisorBehavior(deps: TaskSupervisorDeps): Behavior<SupervisorState, TaskSupervisorMsg> {
  // Built at the first start (placement exists by then, and its ref outlives its restarts).
  let taskDeps: TaskDeps | undefined;
  return {
    schema: TaskSupervisorMsgSchema,
    init: () => ({ byTask: new Map(), byChild: new Map() }),
    receive(state, msg, ctx) {
      switch (msg.type) {
        case 'task.start': {
          const { dispatch } = msg;
          const taskId = dispatch.spec.task_id;
          const child = `task-${taskId}-${dispatch.attempt}`;
          taskDeps ??= { ...deps, placement: deps.placement() };
          ctx.spawn(child, taskBehavior(taskDeps, dispatch), { kind: 'temporary' });
          state.byTask.set(taskId, { child, dispatch });
          state.byChild.set(child, taskId);
          return state;
        }
        case 'task.cancel': {
          const running = state.byTask.get(msg.task_id);
          const ref = running === undefined ? undefined : ctx.child<TaskMsg>(running.child);
          if (ref === undefined) {
            ctx.reply('already_ended' satisfies CancelReply['outcome']);
          } else {
            ctx.reply(ref.ask<CancelReply['outcome']>({ type: 'task.cancel' }, 15_000).catch(() => 'already_ended' as const));
          }
          return state;
        }
        case 'tasks.list':
          ctx.reply(
            [...state.byTask.entries()].map(([task_id, r]) => ({
              task_id,
              replica_id: r.dispatch.replica.replica_id,
              pool_id: r.dispatch.replica.pool_id,
            })),
          );
          return state;
      }
    },
    supervise: () => 'stop',
    onChildExit(state, exit, ctx) {
      const taskId = state.byChild.get(exit.child);
      state.byChild.delete(exit.child);
      if (taskId === undefined) return state;
      if (state.byTask.get(taskId)?.child === exit.child) state.byTask.delete(taskId);
      if (exit.reason.kind === 'crashed' || exit.reason.kind === 'escalated') {
        const error = exit.reason.error;
        ctx.log.error({ task_id: taskId, err: error }, 'task actor crashed');
        deps.placement().tell({
          type: 'task.exited',
          task_id: taskId,
          outcome: { kind: 'crashed', message: error instanceof Error ? error.message : String(error) },
        });
      }
      return state;
    },
  };
}
