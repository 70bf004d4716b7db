/**
 * One generation request inside the simulated engine: it waits for a slot, "prefills" for the
 * time to first token, then decodes exactly `max_tokens` tokens into the response (SSE chunks or
 * one JSON body). The hot path allocates no closures or timers per token: at full speed it writes
 * batches in a loop, yielding with setImmediate and pausing on backpressure until 'drain'; at a
 * fixed rate it runs one interval timer per stream.
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FinishedReason, SimEngineMetrics } from './engine-metrics.js';
import type { GenerationParams } from './engine-requests.js';
import { DONE_EVENT, ENGINE_DEAD_MESSAGE, StreamWire, errorBody, responseBody, streamErrorEvent, type SimApi } from './openai-wire.js';
import type { SequenceScheduler, SlotWaiter } from './scheduler.js';
import { SeededTokenSource, tokenJson, tokenText } from './tokens.js';
import type { SimEngineFaults } from './types.js';

/** Tokens written per event-loop turn at full speed, so hundreds of streams share the loop. */
const TOKENS_PER_TURN = 32;

/** What a sequence needs from its engine. */
export interface SequenceContext {
  readonly scheduler: SequenceScheduler;
  readonly metrics: SimEngineMetrics;
  readonly ttftMs: number;
  readonly tokensPerSec: number;
  /** JSON literal of the served model id. */
  readonly modelJson: string;
  /** The faults in force right now. */
  faults(): SimEngineFaults;
}

/** Identity of the response, fixed when the request arrives. */
export interface ResponseIdentity {
  id: string;
  /** Unix seconds. */
  created: number;
}

type SequenceState = 'queued' | 'prefill' | 'decode' | 'done';

/** A request from arrival to its last byte. */
export class SimSequence implements SlotWaiter {
  private state: SequenceState = 'queued';
  private emitted = 0;
  private text = '';
  private blocked = false;
  private decodeStartedAt = 0;
  private msPerToken = 0;
  private timeout: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly arrivedAt = performance.now();
  private readonly tokens: SeededTokenSource;
  private readonly wire: StreamWire;
  private readonly dieAfter: number | undefined;
  private readonly errorAfter: number | undefined;
  // Bound once per sequence so the per-token path creates no closures.
  private readonly beginDecodeBound = (): void => this.beginDecode();
  private readonly pumpBound = (): void => this.pump();
  private readonly tickBound = (): void => this.tick();
  private readonly onDrainBound = (): void => this.onDrain();
  private readonly onCloseBound = (): void => this.onClientGone();

  constructor(
    private readonly ctx: SequenceContext,
    private readonly api: SimApi,
    private readonly params: GenerationParams,
    private readonly promptTokens: number,
    private readonly identity: ResponseIdentity,
    private readonly res: ServerResponse,
  ) {
    this.tokens = new SeededTokenSource(params.promptText, params.seed);
    this.wire = new StreamWire(api, identity.id, identity.created, ctx.modelJson);
    const faults = ctx.faults();
    this.dieAfter = faults.dieAfterTokens;
    this.errorAfter = faults.errorAfterTokens;
  }

  /** Sends the stream headers (vLLM starts the response before scheduling) and queues for a slot. */
  start(): void {
    this.res.on('close', this.onCloseBound);
    if (this.params.stream) {
      this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      this.res.flushHeaders();
    }
    this.ctx.scheduler.submit(this);
  }

  /** Slot granted: prefill for the time to first token. */
  onSlotGranted(): void {
    if (this.state !== 'queued') return;
    this.state = 'prefill';
    const delay = this.ctx.ttftMs * slowFactorOf(this.ctx.faults());
    if (delay > 0) this.timeout = setTimeout(this.beginDecodeBound, delay);
    else this.immediate = setImmediate(this.beginDecodeBound);
  }

  private beginDecode(): void {
    this.timeout = undefined;
    this.immediate = undefined;
    if (this.state !== 'prefill') return;
    this.state = 'decode';
    this.decodeStartedAt = performance.now();
    this.ctx.metrics.recordPrefill(this.promptTokens, (this.decodeStartedAt - this.arrivedAt) / 1000);
    if (this.params.stream) this.res.write(this.wire.opening());
    if (this.ctx.tokensPerSec > 0) {
      this.msPerToken = (1000 / this.ctx.tokensPerSec) * slowFactorOf(this.ctx.faults());
      this.interval = setInterval(this.tickBound, Math.max(1, this.msPerToken));
      this.tick();
    } else {
      this.pump();
    }
  }

  /** Full speed: a batch of tokens per turn, then yield (or wait for 'drain'). */
  private pump(): void {
    this.immediate = undefined;
    if (this.state !== 'decode' || this.blocked) return;
    this.res.cork();
    for (let i = 0; i < TOKENS_PER_TURN && this.state === 'decode' && !this.blocked; i++) this.emitOne();
    this.res.uncork();
    if (this.state === 'decode' && !this.blocked) this.immediate = setImmediate(this.pumpBound);
  }

  /** Fixed rate: emit every token that is due by now (the first one at once). */
  private tick(): void {
    if (this.state !== 'decode' || this.blocked) return;
    const due = Math.floor((performance.now() - this.decodeStartedAt) / this.msPerToken) + 1;
    while (this.emitted < due && this.state === 'decode' && !this.blocked) this.emitOne();
  }

  private onDrain(): void {
    this.blocked = false;
    if (this.ctx.tokensPerSec > 0) this.tick();
    else this.pump();
  }

  private emitOne(): void {
    if (this.ctx.faults().engineDead === true) return this.failMidStream();
    if (this.errorAfter !== undefined && this.emitted >= this.errorAfter) return this.failMidStream();
    if (this.dieAfter !== undefined && this.emitted >= this.dieAfter) return this.die();
    const index = this.tokens.next();
    this.emitted++;
    this.ctx.metrics.recordTokens(1);
    const last = this.emitted >= this.params.maxTokens;
    if (this.params.stream) {
      if (!this.res.write(this.wire.token(tokenJson(index), last ? 'length' : null))) {
        this.blocked = true;
        this.res.once('drain', this.onDrainBound);
      }
    } else {
      this.text += tokenText(index);
    }
    if (last) this.complete();
  }

  private complete(): void {
    const { stream, includeUsage } = this.params;
    this.finish('length');
    if (stream) {
      this.res.write(this.wire.closing('length'));
      if (includeUsage) this.res.write(this.wire.usage(this.promptTokens, this.emitted));
      this.res.end(DONE_EVENT);
      return;
    }
    const body = responseBody(this.api, {
      id: this.identity.id,
      created: this.identity.created,
      modelJson: this.ctx.modelJson,
      text: this.text,
      finishReason: 'length',
      promptTokens: this.promptTokens,
      completionTokens: this.emitted,
    });
    this.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  /** vLLM's behaviour once the engine fails under a running request. */
  private failMidStream(): void {
    this.finish('abort');
    if (this.params.stream) {
      this.res.write(streamErrorEvent(ENGINE_DEAD_MESSAGE, 'InternalServerError', 500));
      this.res.end(DONE_EVENT);
      return;
    }
    const body = errorBody(ENGINE_DEAD_MESSAGE, 'InternalServerError', null, 500);
    this.res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  /** The engine process vanishes: the tokens already written arrive, then the connection just ends. */
  private die(): void {
    this.finish('abort');
    this.res.uncork();
    const socket = this.res.socket;
    if (socket === null) this.res.destroy();
    else socket.destroySoon();
  }

  private onClientGone(): void {
    if (this.state === 'done') return;
    this.finish('abort');
  }

  /** Leaves the engine: stops timers, frees the slot (or the queue place), records the outcome. */
  private finish(reason: FinishedReason): void {
    const previous = this.state;
    if (previous === 'done') return;
    this.state = 'done';
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    if (this.interval !== undefined) clearInterval(this.interval);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timeout = this.interval = this.immediate = undefined;
    this.res.off('drain', this.onDrainBound);
    if (previous === 'queued') this.ctx.scheduler.withdraw(this);
    else this.ctx.scheduler.release();
    this.ctx.metrics.recordFinished(reason, (performance.now() - this.arrivedAt) / 1000);
  }
}

function slowFactorOf(faults: SimEngineFaults): number {
  const factor = faults.slowFactor;
  return factor !== undefined && Number.isFinite(factor) && factor > 0 ? factor : 1;
}
