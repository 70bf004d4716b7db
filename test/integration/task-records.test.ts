/**
 * TaskRecordWriter over a real KV bucket: writes land in order, and updates that arrive while a
 * write is in flight are folded into the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskRecordWriter } from '../../src/actors/task-records.js';
import { TaskRecordSchema, type TaskRecord } from '../../src/protocols/index.js';
import { connectTransport, type KvStore, type Transport } from '../../src/transport/index.js';
import { captureLogs, useNatsServer } from '../helpers/nats-server.js';

const server = useNatsServer();
let transport: Transport;
let kv: KvStore<TaskRecord>;
const logs = captureLogs();

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'records-test', logger: logs.logger });
  kv = await transport.kv('test_records', TaskRecordSchema);
});

afterAll(async () => {
  await transport?.close();
});

function recordOf(taskId: string): TaskRecord {
  return {
    task_id: taskId,
    spec: { task_id: taskId, session_id: 's', model: 'm', prompt: 'p', max_tokens: 4, deadline_ms: 60_000, priority: 'interactive' },
    state: 'queued',
    owner: 'node-1',
    correlation_id: 'c',
    admitted_at: 1,
    attempts: 0,
  } as TaskRecord;
}

/** The real bucket, with `update` held at a gate the test opens, and every written record logged. */
function gatedKv(inner: KvStore<TaskRecord>): { store: KvStore<TaskRecord>; writes: TaskRecord[]; release(): void; writing(): Promise<void> } {
  const writes: TaskRecord[] = [];
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let started: () => void = () => undefined;
  let startedP = new Promise<void>((resolve) => (started = resolve));
  const store = Object.create(inner) as KvStore<TaskRecord>;
  store.update = async (key, value, revision) => {
    writes.push(value);
    started();
    await gate;
    return inner.update(key, value, revision);
  };
  return {
    store,
    writes,
    release() {
      open();
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    async writing() {
      await startedP;
      startedP = new Promise<void>((resolve) => (started = resolve));
    },
  };
}

describe('TaskRecordWriter', () => {
  it('folds updates made while a write is in flight into one write of the latest record', async () => {
    const gated = gatedKv(kv);
    const writer = new TaskRecordWriter(gated.store, logs.logger);
    expect(await writer.create(recordOf('t1'))).toBe(true);
    const first = writer.update('t1', { state: 'running', attempts: 1 });
    await gated.writing(); // `running` is in flight
    const second = writer.update('t1', { state: 'running', replica_id: 'r1' });
    const third = writer.update('t1', { state: 'completed', tokens_out: 3 });
    expect(third).toBe(second);
    gated.release();
    await first;
    await gated.writing();
    gated.release();
    await third;
    expect(gated.writes.map((w) => w.state)).toEqual(['running', 'completed']);
    const stored = await kv.get('t1');
    expect(stored?.value).toMatchObject({ state: 'completed', attempts: 1, replica_id: 'r1', tokens_out: 3 });
    expect(stored?.revision).toBeGreaterThan(0);
    // Terminal and written: the writer forgets the task.
    expect(writer.current('t1')).toBeUndefined();
  });

  it('does not overwrite a record another process changed (revision conflict)', async () => {
    const writer = new TaskRecordWriter(kv, logs.logger);
    expect(await writer.create(recordOf('t2'))).toBe(true);
    const theirs = await kv.get('t2');
    await kv.update('t2', { ...theirs!.value, owner: 'node-2' }, theirs!.revision);
    await writer.update('t2', { state: 'running' });
    expect((await kv.get('t2'))?.value.owner).toBe('node-2');
    expect((await kv.get('t2'))?.value.state).toBe('queued');
  });
});
