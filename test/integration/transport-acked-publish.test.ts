/**
 * ReplyInbox and AckedPublisher against a real nats-server: requests and acknowledged publishes on
 * one reply subscription, compare-and-set refusals as typed errors, nothing left waiting forever.
 */
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedPublisher, JetStreamPublishError } from '../../src/transport/acked-publish.js';
import { NoRespondersError, ReplyInbox, ReplyTimeoutError } from '../../src/transport/reply-inbox.js';
import { isRevisionConflict } from '../../src/transport/kv.js';
import { useNatsServer } from '../helpers/nats-server.js';

const server = useNatsServer();
let nc: NatsConnection;
let inbox: ReplyInbox;
let acked: AckedPublisher;

beforeAll(async () => {
  nc = await connect({ servers: server().url });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'ACKED', subjects: ['acked.>'] });
  inbox = new ReplyInbox(nc);
  acked = new AckedPublisher(inbox, 5_000);
});

afterAll(async () => {
  inbox?.close();
  await nc?.close();
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
    const quick = new AckedPublisher(inbox, 200);
    // A plain subscriber takes the subject, so the server reports no "no responders", and never answers.
    const silent = nc.subscribe('silent.subject');
    try {
      await expect(quick.publish('silent.subject', bytes('x'))).rejects.toBeInstanceOf(ReplyTimeoutError);
    } finally {
      silent.unsubscribe();
    }
  });
});

describe('reply inbox', () => {
  it('hands every reply to its own request, many in flight at once', async () => {
    const echo = nc.subscribe('echo.>', { callback: (_err, msg) => msg.respond(msg.data) });
    try {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => inbox.request(`echo.${i % 3}`, bytes(`r${i}`), { timeoutMs: 5_000 })));
      expect(replies.map((m) => new TextDecoder().decode(m.data))).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
    } finally {
      echo.unsubscribe();
    }
  });

  it('nobody listening is NoRespondersError at once; a silent listener is ReplyTimeoutError after the timeout', async () => {
    await expect(inbox.request('nobody.here', bytes('x'), { timeoutMs: 5_000 })).rejects.toBeInstanceOf(NoRespondersError);
    const silent = nc.subscribe('silent.request');
    try {
      await expect(inbox.request('silent.request', bytes('x'), { timeoutMs: 150 })).rejects.toThrow(/TIMEOUT: no reply on silent.request within 150 ms/);
    } finally {
      silent.unsubscribe();
    }
  });

  it('closing fails what still waits, and every later request', async () => {
    const closing = new ReplyInbox(nc);
    const silent = nc.subscribe('silent.close');
    try {
      const waiting = closing.request('silent.close', bytes('x'), { timeoutMs: 5_000 });
      closing.close();
      await expect(waiting).rejects.toThrow(/closed before a reply on silent.close/);
      await expect(closing.request('silent.close', bytes('x'), { timeoutMs: 5_000 })).rejects.toThrow(/connection is closed/);
    } finally {
      silent.unsubscribe();
    }
  });
});
