/**
 * The relay of one task attempt: engine stream in, task events out. Runs outside the TaskActor's
 * mailbox so a cancel is handled while tokens flow. It is the only publisher of the attempt's
 * events, which is what makes cancel race-free: once `isCanceled()` is true no token is published,
 * and the relay itself publishes `end {canceled:true}` as the last event.
 */
import { makeEnvelope, type ErrorEnvelope, type TaskDispatch, type TaskOutcome } from '../protocols/index.js';
import { EngineError, type EngineAdapter } from '../engines/index.js';
import type { EventLog } from '../transport/index.js';
import type { Clock } from './types.js';
import { TokenCoalescer } from './token-coalescer.js';

/** Inputs of one relay. */
export interface RelayArgs {
  dispatch: TaskDispatch;
  adapter: EngineAdapter;
  events: EventLog;
  clock: Clock;
  signal: AbortSignal;
  isCanceled: () => boolean;
  idleTimeoutMs: number;
}

/** Streams one attempt; resolves with its outcome after publishing the events the outcome names. */
export async function relayTask(a: RelayArgs): Promise<TaskOutcome> {
  const { dispatch, adapter, events, clock } = a;
  const taskId = dispatch.spec.task_id;
  if (dispatch.publish_started) {
    events.publish({
      type: 'started',
      task_id: taskId,
      data: {
        queue_position: dispatch.queue_position,
        predicted_start_ms: dispatch.predicted_start_ms,
        pool_id: dispatch.replica.pool_id,
        replica_id: dispatch.replica.replica_id,
      },
    });
  }
  let tokens = 0;
  let firstTokenAt: number | undefined;
  let finishReason: string | undefined;
  // Tokens go out in batches of what arrived together; the cancel check at the flush keeps the
  // "no token after cancel" rule for tokens still pending when the cancel came in.
  // A scheduled flush runs outside this function: a publish failure there is kept and rethrown here.
  let publishFailure: unknown;
  let firstBatchOut = false;
  const coalescer = new TokenCoalescer((batch) => {
    if (a.isCanceled() || publishFailure !== undefined) return;
    try {
      events.publish({ type: 'token', task_id: taskId, data: batch.length === 1 ? batch[0]! : { batch } });
      firstBatchOut = true;
    } catch (err) {
      publishFailure = err;
    }
  });
  const checkPublished = (): void => {
    if (publishFailure !== undefined) throw publishFailure;
  };
  const ended = (): Promise<TaskOutcome> => {
    coalescer.discard();
    return endCanceled(events, taskId, tokens, firstTokenAt, clock);
  };
  try {
    const request = {
      model: dispatch.spec.model,
      prompt: dispatch.spec.prompt,
      max_tokens: dispatch.spec.max_tokens,
      ...(dispatch.spec.temperature === undefined ? {} : { temperature: dispatch.spec.temperature }),
      ...(dispatch.spec.seed === undefined ? {} : { seed: dispatch.spec.seed }),
    };
    for await (const step of adapter.stream(request, a.signal, { idleTimeoutMs: a.idleTimeoutMs })) {
      if (a.isCanceled()) break;
      checkPublished();
      for (const chunk of step) {
        if (chunk.type === 'token') {
          if (firstTokenAt === undefined) firstTokenAt = clock.now();
          coalescer.push({ t: chunk.text, i: tokens });
          tokens += 1;
          // The first burst leaves as soon as the engine has nothing more buffered: on a loaded
          // process the wait for the end of the turn was most of the first token's time from
          // engine to client. Later bursts keep that wait, because then every relay's publishes
          // share one NATS write (flushing each burst at once measured ~6 % more CPU at
          // 128 x 50 tok/s).
          if (chunk.burstEnd === true && !firstBatchOut) coalescer.flush();
        } else if (chunk.finish_reason !== null) {
          finishReason = chunk.finish_reason;
        }
      }
    }
    if (a.isCanceled()) return await ended();
    coalescer.flush();
    checkPublished();
    const decodeMs = firstTokenAt === undefined ? 0 : clock.now() - firstTokenAt;
    await events.publishDurable({
      type: 'end',
      task_id: taskId,
      data: {
        tokens_out: tokens,
        decode_ms: decodeMs,
        decode_time_ms: decodeMs,
        ...(finishReason === undefined ? {} : { finish_reason: finishReason }),
      },
    });
    return {
      kind: 'completed',
      tokens_out: tokens,
      decode_ms: decodeMs,
      ...(firstTokenAt === undefined ? {} : { first_token_at: firstTokenAt }),
      ...(finishReason === undefined ? {} : { finish_reason: finishReason }),
    };
  } catch (err) {
    if (a.isCanceled()) return await ended();
    coalescer.flush();
    const error = engineFailure(err, dispatch, tokens);
    if (tokens === 0 && error.code === 'WORKER_RESET') return { kind: 'retry', error };
    await events.publishDurable({ type: 'error', task_id: taskId, data: error });
    return { kind: 'failed', error, tokens_out: tokens, ...(firstTokenAt === undefined ? {} : { first_token_at: firstTokenAt }) };
  }
}

async function endCanceled(events: EventLog, taskId: string, tokens: number, firstTokenAt: number | undefined, clock: Clock): Promise<TaskOutcome> {
  const decodeMs = firstTokenAt === undefined ? 0 : clock.now() - firstTokenAt;
  await events.publishDurable({
    type: 'end',
    task_id: taskId,
    data: { tokens_out: tokens, decode_ms: decodeMs, decode_time_ms: decodeMs, canceled: true },
  });
  return { kind: 'canceled', tokens_out: tokens, ...(firstTokenAt === undefined ? {} : { first_token_at: firstTokenAt }) };
}

/** Maps an engine failure to the envelope the client sees. */
function engineFailure(err: unknown, d: TaskDispatch, tokens: number): ErrorEnvelope {
  const where = `replica ${d.replica.replica_id} of pool ${d.replica.pool_id}`;
  const extra = { correlation_id: d.correlation_id, engine: d.replica.engine, pool_id: d.replica.pool_id };
  if (err instanceof EngineError) {
    if (err.kind === 'timeout') {
      return makeEnvelope('DECODE_TIMEOUT', `no token from ${where} within the idle timeout after ${tokens} token(s)`, extra);
    }
    if (err.kind === 'http' && err.status !== undefined && err.status >= 400 && err.status < 500) {
      // The engine refused the request itself (bad params, context overflow): retrying elsewhere won't help.
      return makeEnvelope('INVALID_PARAMS', `engine rejected the request: ${err.message}`, extra);
    }
    return makeEnvelope('WORKER_RESET', `engine failed (${err.kind}) on ${where} after ${tokens} token(s): ${err.message}`, { ...extra, retry_after_ms: 0 });
  }
  const message = err instanceof Error ? err.message : String(err);
  return makeEnvelope('WORKER_RESET', `engine stream failed on ${where} after ${tokens} token(s): ${message}`, { ...extra, retry_after_ms: 0 });
}
