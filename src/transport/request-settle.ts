/**
 * A NATS request that got its answer settles without building an error.
 *
 * nats.js (2.x) ends every request, answered or not, through `RequestOne.cancel()`, which rejects
 * the request's promise with a fresh NatsError — for an answered request the promise is already
 * resolved, so that error (and the stack trace its construction captures) is thrown away. When
 * a task's submit, record writes and terminal publish were nats.js requests, those discarded
 * errors were about 4 % of the API process's CPU under the admission load (`node --cpu-prof`);
 * those now go through {@link ReplyInbox}, and this keeps the rest (JetStream API calls: KV
 * reads, stream lookups, consumers) from paying it. Here an answered request cancels its timer and
 * its inbox entry, as the original does, without the error; failures and timeouts take the
 * original path unchanged.
 *
 * The patch replaces one method of one class of nats.js's internals. If an upgrade changes its
 * shape, nothing is patched and requests work as before.
 */
import { RequestOne } from 'nats/lib/nats-base-client/request.js';

/** What an answered request needs to release (the fields the original `cancel` uses). */
interface AnsweredRequest {
  timer?: { cancel(): void };
  deferred: { resolve(value: unknown): void };
  mux: { cancel(request: unknown): void };
}

type Resolver = (this: AnsweredRequest, err: Error | null, msg: unknown) => void;

let outcome: boolean | undefined;

function looksAsExpected(resolver: unknown, cancel: unknown): resolver is Resolver {
  if (typeof resolver !== 'function' || typeof cancel !== 'function') return false;
  // The body this replaces: on success, resolve then `this.cancel()`; cancel releases the mux entry.
  const source = Function.prototype.toString.call(resolver);
  const cancelSource = Function.prototype.toString.call(cancel);
  return source.includes('this.deferred.resolve(msg)') && source.includes('this.cancel()') && cancelSource.includes('this.mux.cancel(this)');
}

/** Patches nats.js once per process; false when its internals do not have the expected shape. */
export function settleAnsweredRequestsQuietly(): boolean {
  if (outcome !== undefined) return outcome;
  const proto = (RequestOne as unknown as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  const original = proto?.['resolver'];
  if (proto === undefined || !looksAsExpected(original, proto['cancel'])) {
    outcome = false;
    return outcome;
  }
  proto['resolver'] = function resolver(this: AnsweredRequest, err: Error | null, msg: unknown): void {
    if (err !== null && err !== undefined) {
      original.call(this, err, msg);
      return;
    }
    this.timer?.cancel();
    this.deferred.resolve(msg);
    this.mux.cancel(this);
  };
  outcome = true;
  return outcome;
}
