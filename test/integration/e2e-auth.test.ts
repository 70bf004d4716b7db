/** Bearer auth end to end: DROVER_API_TOKEN guards every route but the probes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../../src/protocols/index.js';
import { startTestDrover, type TestDrover } from '../helpers/drover.js';
import { getJson, postJson, readSse } from '../helpers/sse.js';

let drover: TestDrover;
beforeAll(async () => {
  drover = await startTestDrover({ api_token: 's3cret-token' });
});
afterAll(async () => {
  await drover?.close();
});

describe('auth - bearer token', () => {
  it('refuses a missing or wrong token with 401 and the envelope, and serves the right one', async () => {
    const body = { model: DEFAULT_MODEL, prompt: 'hi', max_tokens: 2 };
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret-token' }];
    for (const headers of attempts) {
      const res = await postJson(`${drover.httpUrl}/v2/tasks`, body, headers);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'UNAUTHORIZED', retriable: false });
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect((await getJson(`${drover.httpUrl}/v2/pools`)).status).toBe(401);
    expect((await getJson(`${drover.httpUrl}/metrics`)).status).toBe(401);
    expect((await getJson(`${drover.httpUrl}/healthz`)).status).toBe(200);
    expect((await getJson(`${drover.httpUrl}/readyz`)).status).toBe(200);

    const auth = { authorization: 'Bearer s3cret-token' };
    const ok = await postJson(`${drover.httpUrl}/v2/tasks`, body, auth);
    expect(ok.status).toBe(202);
    const denied = await readSse(`${drover.httpUrl}/v2/tasks/${String(ok.body?.task_id)}/events`);
    expect(denied.status).toBe(401);
    const { events } = await readSse(`${drover.httpUrl}/v2/tasks/${String(ok.body?.task_id)}/events`, { headers: auth });
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'token', 'end']);
  });
});
