/**
 * Task events for transport tests: event factories, a writer of a whole task, and readers.
 */
import type { JetStreamManager } from 'nats';
import { STREAMS, type TaskEvent } from '../../src/protocols/index.js';
import type { EventLog } from '../../src/transport/index.js';

export const started = (task: string): TaskEvent => ({ type: 'started', task_id: task, data: { queue_position: 0, predicted_start_ms: 0 } });
export const token = (task: string, i: number): TaskEvent => ({ type: 'token', task_id: task, data: { t: `t${i}`, i } });
export const end = (task: string, n: number): TaskEvent => ({ type: 'end', task_id: task, data: { tokens_out: n, decode_ms: 1, decode_time_ms: 1 } });

/** Publishes started, n tokens (core publish) and a durable end. */
export async function writeTask(events: EventLog, task: string, n: number): Promise<void> {
  events.publish(started(task));
  for (let i = 0; i < n; i++) events.publish(token(task, i));
  return events.publishDurable(end(task, n));
}

export async function collect(it: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Consumers the events stream has right now. */
export async function consumerCount(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(STREAMS.events.name)).state.consumer_count;
}
