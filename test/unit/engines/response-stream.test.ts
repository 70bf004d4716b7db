/**
 * ResponseStream, the dispatch handler the vLLM adapter streams through, driven the way undici
 * drives it (tests/integration/vllm-adapter covers it against real servers).
 */
import { describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { ResponseStream } from '../../../src/engines/response-stream.js';

/** A DispatchController that records what the handler asked of it. */
function fakeController(): Dispatcher.DispatchController & { calls: string[]; abortedWith: Error | undefined } {
  const state = { paused: false, aborted: false, calls: [] as string[], abortedWith: undefined as Error | undefined };
  return {
    get aborted() {
      return state.aborted;
    },
    get paused() {
      return state.paused;
    },
    get reason() {
      return state.abortedWith ?? null;
    },
    get calls() {
      return state.calls;
    },
    get abortedWith() {
      return state.abortedWith;
    },
    abort(reason: Error) {
      state.aborted = true;
      state.abortedWith = reason;
      state.calls.push('abort');
    },
    pause() {
      state.paused = true;
      state.calls.push('pause');
    },
    resume() {
      state.paused = false;
      state.calls.push('resume');
    },
  };
}

const kb = (n: number): Buffer => Buffer.alloc(n * 1024, 'x');

describe('response stream', () => {
  it('hands out the body in order, then undefined at its end', async () => {
    const call = new ResponseStream();
    const controller = fakeController();
    call.onRequestStart(controller);
    const started = call.responseStarted();
    call.onResponseStart(controller, 200);
    await started;
    expect(call.statusCode).toBe(200);
    const first = call.read();
    call.onResponseData(controller, Buffer.from('a'));
    call.onResponseData(controller, Buffer.from('b'));
    call.onResponseEnd();
    expect(String(await first)).toBe('a');
    expect(String(await call.read())).toBe('b');
    expect(await call.read()).toBeUndefined();
    expect(call.complete).toBe(true);
    call.abort(new Error('late'));
    expect(controller.calls).toEqual([]);
  });

  it('pauses the socket while 64 KB wait for the reader, and resumes below half', async () => {
    const call = new ResponseStream();
    const controller = fakeController();
    call.onRequestStart(controller);
    call.onResponseStart(controller, 200);
    for (let i = 0; i < 4; i++) call.onResponseData(controller, kb(16));
    expect(controller.calls).toEqual(['pause']);
    await call.read(); // 48 KB left
    await call.read(); // 32 KB left: not below half yet
    expect(controller.calls).toEqual(['pause']);
    await call.read(); // 16 KB left
    expect(controller.calls).toEqual(['pause', 'resume']);
  });

  it('delivers what arrived before a failure, then throws it', async () => {
    const call = new ResponseStream();
    const controller = fakeController();
    call.onRequestStart(controller);
    call.onResponseStart(controller, 200);
    call.onResponseData(controller, Buffer.from('a'));
    const broken = new Error('socket hang up');
    call.onResponseError(controller, broken);
    expect(String(await call.read())).toBe('a');
    await expect(call.read()).rejects.toBe(broken);
  });

  it('a failure before the response is what responseStarted throws', async () => {
    const call = new ResponseStream();
    const refused = new Error('connect ECONNREFUSED');
    const started = call.responseStarted();
    call.onResponseError(fakeController(), refused);
    await expect(started).rejects.toBe(refused);
  });

  it('an abort before the request is on a connection stops the reader now and the request once it starts', async () => {
    const call = new ResponseStream();
    const started = call.responseStarted();
    const reason = new Error('canceled');
    call.abort(reason);
    await expect(started).rejects.toBe(reason);
    const controller = fakeController();
    call.onRequestStart(controller);
    expect(controller.abortedWith).toBe(reason);
  });

  it('an abort mid-body goes to undici, whose error the reader then gets', async () => {
    const call = new ResponseStream();
    const controller = fakeController();
    call.onRequestStart(controller);
    call.onResponseStart(controller, 200);
    const reading = call.read();
    const reason = new Error('idle timeout');
    call.abort(reason);
    expect(controller.abortedWith).toBe(reason);
    call.onResponseError(controller, reason); // what undici does after controller.abort
    await expect(reading).rejects.toBe(reason);
  });
});
