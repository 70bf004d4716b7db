/**
 * AckedPublisher against a real nats-server: acknowledged publishes on one reply subscription,
 * compare-and-set refusals as typed errors, and no publish left waiting forever.
 */
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedPublisher, JetStreamPublishError } from '../../src/transport/acked-publish.js';
import { isRevisionConflict } from '../../src/transport/kv.js';
import { printServerOutputOnFailure, startNatsServer, type TestNats } from '../helpers/nats-server.js';

let server: TestNats | undefined;
let nc: NatsConnection;
let acked: AckedPublisher;
printServerOutputOnFailure(() => server);

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'ACKED', subjects: ['acked.>'] });
  acked = new AckedPublisher(nc, 5_000);
});

afterAll(async () => {
  acked?.close();
  await nc?.close();
  await server?.stop();
});

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('acked publish', () => {
  it('resolves with the stream sequence once stored, for many publishes in flight at once', async () => {
    const seqs = await Promise.all(Array.from({ length: 200 }, (_, i) => acked.publish(`acked.many.${i % 7}`, bytes(`m${i}`))));
    expect(new Set(seqs).size).toBe(200);
    const jsm = await nc.jetstreamManager();
    for (const i of [0, 99, 199]) {
      const stored = await jsm.streams.getMessage('ACKED', { seq: seqs[i]! });
      expect(new TextDecoder().decode(stored.data)).toBe(`m${i}`);
      expect(stored.subject).toBe(`acked.many.${i % 7}`);
    }
  });

  it('a publish at the wrong last subject sequence is refused with error code 10071, a revision conflict', async () => {
    const first = await acked.publish('acked.cas', bytes('1'), { expectedLastSubjectSequence: 0 });
    const stale = acked.publish('acked.cas', bytes('2'), { expectedLastSubjectSequence: 0 });
    await expect(stale).rejects.toBeInstanceOf(JetStreamPublishError);
    await expect(stale).rejects.toMatchObject({ errCode: 10071 });
    expect(isRevisionConflict(await stale.catch((err: unknown) => err))).toBe(true);
    await expect(acked.publish('acked.cas', bytes('2'), { expectedLastSubjectSequence: first })).resolves.toBeGreaterThan(first);
  });

  it('a subject no stream captures fails with no responders instead of waiting', async () => {
    const lost = acked.publish('nowhere.at.all', bytes('x'));
    await expect(lost).rejects.toMatchObject({ name: 'JetStreamPublishError', status: 503 });
  });

  it('a publish nobody acknowledges fails once its timeout passed', async () => {
    const quick = new AckedPublisher(nc, 200);
    // A plain subscriber takes the subject, so the server reports no "no responders", and never answers.
    const silent = nc.subscribe('silent.subject');
    try {
      await expect(quick.publish('silent.subject', bytes('x'))).rejects.toThrow(/TIMEOUT: no ack for silent.subject within 200 ms/);
    } finally {
      silent.unsubscribe();
      quick.close();
    }
  });

  it('closing fails what still waits, and the next publish too', async () => {
    const closing = new AckedPublisher(nc, 5_000);
    const silent = nc.subscribe('silent.close');
    try {
      const waiting = closing.publish('silent.close', bytes('x'));
      closing.close();
      await expect(waiting).rejects.toThrow(/closed before the stream acknowledged/);
      await expect(closing.publish('acked.after', bytes('x'))).rejects.toThrow(/connection is closed/);
    } finally {
      silent.unsubscribe();
    }
  });
});
