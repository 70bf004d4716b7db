/**
 * NatsTaskGateway.submit against a real nats-server and a stand-in placement: the submit's answer
 * is placement's NATS reply, and the task's events are kept in memory only when placement in this
 * process claimed the task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DroverError, SubmitTaskSchema, TaskRecordSchema, subjects, type AdmissionResponse, type SubmitTask } from '../../src/protocols/index.js';
import { connectTransport, type Transport } from '../../src/transport/index.js';
import { NatsTaskGateway } from '../../src/actors/gateway.js';
import { captureLogs, useNatsServer } from '../helpers/nats-server.js';
import { specOf } from '../helpers/fake-gateway.js';

const server = useNatsServer();
const logs = captureLogs();
let transport: Transport;
let gateway: NatsTaskGateway;

beforeAll(async () => {
  transport = await connectTransport({ url: server().url, name: 'gateway-test', logger: logs.logger });
  gateway = new NatsTaskGateway(transport, await transport.kv('gateway_test_tasks', TaskRecordSchema));
});

afterAll(async () => {
  await transport?.close();
});

/** A stand-in placement: hands each submit to `onSubmit` and answers with what it returns. */
async function placement(onSubmit: (submit: SubmitTask) => Promise<AdmissionResponse>): Promise<{ unsubscribe(): Promise<void> }> {
  const sub = transport.bus.serve(subjects.tasksSubmit, { schema: SubmitTaskSchema }, onSubmit);
  await transport.bus.flush();
  return sub;
}

function admissionOf(taskId: string): AdmissionResponse {
  return { task_id: taskId, queue_position: 0, predicted_start_ms: 0, backoff_ms: 0 };
}

describe('gateway submit', () => {
  it('keeps the events in memory for a task claimed here', async () => {
    const sub = await placement(async (submit) => {
      transport.events.claim(submit.spec.task_id);
      return admissionOf(submit.spec.task_id);
    });
    try {
      await expect(gateway.submit(specOf('g-local'), 'corr-g1')).resolves.toEqual(admissionOf('g-local'));
      expect(transport.events.watching('g-local')).toBe(true);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('keeps nothing for a task admitted by placement elsewhere, and a refusal releases the watch', async () => {
    const sub = await placement(async (submit) => {
      if (submit.spec.task_id === 'g-refused') throw new DroverError('TASK_EXISTS', 'task g-refused already exists');
      return admissionOf(submit.spec.task_id);
    });
    try {
      await expect(gateway.submit(specOf('g-remote'), 'corr-g2')).resolves.toEqual(admissionOf('g-remote'));
      // Admitted without a claim here: placement in another process runs it.
      expect(transport.events.watching('g-remote')).toBe(false);
      await expect(gateway.submit(specOf('g-refused'), 'corr-g3')).rejects.toMatchObject({ code: 'TASK_EXISTS' });
      expect(transport.events.watching('g-refused')).toBe(false);
    } finally {
      await sub.unsubscribe();
    }
  });
});
