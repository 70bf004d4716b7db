/**
 * The actor runtime: typed actors over nact 7.6.2, plus the supervision nact lacks.
 *
 * It owns the whole actor lifecycle: zod-checked `tell`/`ask` (with a timeout on the injected
 * clock), one-message-at-a-time processing even for async handlers, supervision directives
 * (`resume | restart | stop | escalate`), restart intensity and backoff with jitter (decided by
 * `src/policy/supervision.ts`), ordered stops (children before parents, `onStop` awaited), and
 * child exits delivered through the parent's mailbox.
 *
 * It is the only module that imports nact (DESIGN §3): nact is pinned and unmaintained, its
 * pitfalls (handler return value becomes state, silent drops to stopped actors, console.log +
 * stop as the default crash policy) are contained here, and replacing it means rewriting one file.
 * nact provides the actor tree and the turn-yielding drain signal (each cell keeps its own inbox,
 * see `Cell.post`); every handler given to nact catches its own errors, so nact's supervision
 * never runs, and nact actors get unique internal names (ours may contain characters nact
 * rejects, and a name is reusable as soon as its actor stopped).
 */
import { dispatch, spawn as nactSpawn, start as nactStart, stop as nactStop } from 'nact';
import type { Ref } from 'nact';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';

import {
  backoffDelay,
  checkRestart,
  defaultDirective,
  pruneRestarts,
} from '../policy/supervision.js';
import type {
  ActorContext,
  ActorRef,
  ActorSystem,
  ActorSystemOptions,
  Backoff,
  Behavior,
  ChildExit,
  ChildFailure,
  ChildKind,
  ChildOptions,
  Clock,
  Directive,
  RestartLimit,
  StopReason,
} from './types.js';

/** Restart limit of a child whose options omit it: 3 restarts within 5 s. */
export const DEFAULT_RESTART_LIMIT: Readonly<RestartLimit> = { maxRestarts: 3, withinMs: 5000 };

/** Backoff of a child whose options omit it: 100 ms doubling up to 10 s, ±20 % jitter. */
export const DEFAULT_BACKOFF: Readonly<Backoff> = {
  minBackoffMs: 100,
  maxBackoffMs: 10_000,
  randomFactor: 0.2,
};

/** Messages buffered while a child waits out its restart backoff, when its options omit it. */
export const DEFAULT_MAX_BUFFERED = 10_000;

/** Timeout of `ask` when the caller gives none. */
export const DEFAULT_ASK_TIMEOUT_MS = 5000;

/** Real time: `Date.now` and the Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The error a parent crashes with when a child escalates; `cause` is the child's error. */
export class ChildEscalatedError extends Error {
  /** Path of the child that escalated. */
  readonly child: string;

  /** Wraps `cause`, the error the child at `childPath` escalated. */
  constructor(childPath: string, cause: unknown) {
    super(`child ${childPath} escalated: ${describeError(cause)}`, { cause });
    this.name = 'ChildEscalatedError';
    this.child = childPath;
  }
}

/** Starts an actor system; top-level actors are supervised by its root according to their kind. */
export function startActorSystem(opts: ActorSystemOptions): ActorSystem {
  const log = opts.log;
  const core: SystemCore = {
    clock: opts.clock ?? systemClock,
    random: opts.random ?? Math.random,
    log,
    onFatal:
      opts.onFatal ??
      ((path, error) => log.fatal({ actor: path, err: error }, 'top-level actor escalated')),
    nextInternalName: counter('a'),
    onRestart: opts.onRestart ?? (() => undefined),
  };
  // nact keys its systems by name in a process-wide map: let it pick a random one, so that two
  // systems with the same Drover name (tests) never see each other's actors.
  const root = new Root(core, opts.name ?? 'drover', nactStart());
  return {
    clock: core.clock,
    spawn: <S, M>(name: string, behavior: Behavior<S, M>, options: ChildOptions): ActorRef<M> =>
      spawnCell(core, root, name, behavior, options).ref,
    stop: () => root.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// Internals

/** What every actor of one system shares. */
interface SystemCore {
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly onFatal: (path: string, error: unknown) => void;
  readonly nextInternalName: () => string;
  readonly onRestart: (path: string) => void;
}

/** Options with the defaults filled in. */
interface ResolvedOptions {
  kind: ChildKind;
  restart: RestartLimit;
  backoff: Backoff;
  maxBuffered: number;
}

/** The `ask` waiting on a message; settling twice is a no-op. */
interface PendingAsk {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * What travels through an actor's inbox. Child notifications carry the parent's epoch at the
 * child's spawn, so that a notification from a previous incarnation's child is ignored.
 */
type Envelope =
  | { kind: 'init' }
  | { kind: 'message'; msg: unknown; ask: PendingAsk | undefined }
  | { kind: 'stop-self' }
  | { kind: 'child-exit'; epoch: number; exit: ChildExit }
  | { kind: 'child-escalated'; epoch: number; child: string; path: string; error: unknown };

/** Envelopes one drain handles before it lets the event loop run (see `Cell.post`). */
const MAX_ENVELOPES_PER_TURN = 256;

/**
 * Drains started as microtasks within one event-loop turn, over all actors. Past it, drains go
 * through nact (`setImmediate`), so actors that keep telling each other cannot starve I/O and
 * timers: a microtask chain never yields by itself.
 */
const MICROTASK_DRAINS_PER_TURN = 1024;
let microtaskDrains = 0;
const newTurnOfDrains = (): void => {
  microtaskDrains = 0;
};

/** A supervisor: the system root or an actor. */
interface Parent {
  readonly path: string;
  readonly nactRef: Ref<unknown>;
  readonly children: Map<string, Cell>;
  /** Changes with every incarnation, see {@link Envelope}. */
  readonly epoch: number;
  /** Throws when no child may be spawned any more. */
  assertCanSpawn(): void;
  /** The directive for a crashed child. */
  supervise(child: Cell, failure: ChildFailure): Directive;
  /** A child stopped for good on its own account (not because this parent stopped it). */
  childExited(exit: ChildExit, epoch: number): void;
  /** A child escalated `error` and has stopped. */
  childEscalated(child: Cell, error: unknown, epoch: number): void;
}

type Status = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

function spawnCell<S, M>(
  core: SystemCore,
  parent: Parent,
  name: string,
  behavior: Behavior<S, M>,
  options: ChildOptions,
): Cell {
  parent.assertCanSpawn();
  if (name.length === 0 || name.includes('/')) {
    throw new Error(`invalid actor name ${JSON.stringify(name)}: non-empty, without '/'`);
  }
  if (parent.children.has(name)) {
    throw new Error(`actor ${parent.path}/${name} already exists`);
  }
  const cell = new Cell(core, parent, name, behavior, {
    kind: options.kind,
    restart: options.restart ?? DEFAULT_RESTART_LIMIT,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    maxBuffered: options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
  });
  parent.children.set(name, cell);
  return cell;
}

/** The root of the tree: supervises top-level actors by their kind; escalation is fatal. */
class Root implements Parent {
  readonly children = new Map<string, Cell>();
  readonly epoch = 0;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly core: SystemCore,
    readonly path: string,
    readonly nactRef: Ref<unknown>,
  ) {}

  assertCanSpawn(): void {
    if (this.stopping) throw new Error(`actor system ${this.path} is stopped`);
  }

  supervise(child: Cell, _failure: ChildFailure): Directive {
    return defaultDirective(child.kind, 'crashed');
  }

  childExited(exit: ChildExit, _epoch: number): void {
    this.core.log.info({ actor: `${this.path}/${exit.child}`, reason: exit.reason.kind }, 'top-level actor exited');
  }

  childEscalated(child: Cell, error: unknown, _epoch: number): void {
    if (this.stopping) return;
    try {
      this.core.onFatal(child.path, error);
    } catch (err) {
      this.core.log.error({ err }, 'onFatal threw');
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(
        [...this.children.values()].map((c) => c.stopForGood({ kind: 'parent-stopped' }, false)),
      );
      nactStop(this.nactRef);
    })();
    return this.stopping;
  }
}

/** The address handed out; it points at the cell, which outlives its incarnations. */
class CellRef implements ActorRef<unknown> {
  constructor(private readonly cell: Cell) {}

  get name(): string {
    return this.cell.name;
  }

  get path(): string {
    return this.cell.path;
  }

  get alive(): boolean {
    return this.cell.alive;
  }

  tell(msg: unknown): void {
    this.cell.tell(msg);
  }

  ask<R>(msg: unknown, timeoutMs?: number): Promise<R> {
    return this.cell.ask(msg, timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS) as Promise<R>;
  }

  stop(): Promise<void> {
    return this.cell.stopForGood({ kind: 'normal' }, true);
  }
}

/**
 * One actor for its whole life: its incarnations (init … crash … restart), its mailbox (a nact
 * actor whose handler is {@link Cell.process}), its children and its restart history.
 */
class Cell implements Parent {
  readonly children = new Map<string, Cell>();
  readonly path: string;
  readonly log: Logger;
  readonly ref: ActorRef<unknown>;
  /** nact carries only a "drain your inbox" signal for this cell (see `post`). */
  readonly nactRef: Ref<undefined>;
  /** The parent's epoch when this child was spawned. */
  private readonly parentEpoch: number;
  private readonly behavior: Behavior<unknown, unknown>;
  epoch = 0;
  private status: Status = 'starting';
  private state: unknown = undefined;
  /** True when the current incarnation's `onStop` has run (or there is nothing to clean up). */
  private cleaned = true;
  /** Timestamps of the restarts inside the current window. */
  private restarts: number[] = [];
  /** User messages posted and not yet picked up. */
  private queued = 0;
  /** Envelopes waiting for the running (or scheduled) drain, in arrival order. */
  private readonly inbox: Envelope[] = [];
  /** A drain is scheduled with nact or running. */
  private draining = false;
  private processing = false;
  private stopSelfRequested = false;
  private stopping: Promise<void> | undefined;
  private readonly pendingAsks = new Set<PendingAsk>();
  /** Ends the restart backoff early (the actor is stopping). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly core: SystemCore,
    private readonly parent: Parent,
    readonly name: string,
    behavior: Behavior<unknown, unknown>,
    private readonly options: ResolvedOptions,
  ) {
    this.behavior = behavior;
    this.path = `${parent.path}/${name}`;
    this.parentEpoch = parent.epoch;
    this.log = core.log.child({ actor: this.path });
    this.ref = new CellRef(this);
    this.nactRef = nactSpawn(
      parent.nactRef,
      (): Promise<undefined> => this.drain(),
      core.nextInternalName(),
      {
        onCrash: (_msg, error, ctx) => {
          // Unreachable: process() catches everything. Never let nact's default policy run.
          this.log.error({ err: error }, 'runtime defect: nact handler threw');
          return ctx.resume;
        },
      },
    );
    this.post({ kind: 'init' });
  }

  get kind(): ChildKind {
    return this.options.kind;
  }

  get alive(): boolean {
    return this.status !== 'stopping' && this.status !== 'stopped';
  }

  // --- sending -------------------------------------------------------------------------------

  tell(msg: unknown): void {
    try {
      this.enqueue(msg, undefined);
    } catch (err) {
      this.log.error({ err }, 'tell failed');
    }
  }

  ask(msg: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const clock = this.core.clock;
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clock.clearTimeout(timer);
        this.pendingAsks.delete(pending);
        return true;
      };
      const pending: PendingAsk = {
        resolve: (value) => finish() && resolve(value),
        reject: (error) => finish() && reject(error),
      };
      this.pendingAsks.add(pending);
      const timer = clock.setTimeout(
        () => pending.reject(new Error(`ask timed out after ${timeoutMs} ms (${this.path})`)),
        timeoutMs,
      );
      try {
        const refused = this.enqueue(msg, pending);
        if (refused) pending.reject(refused);
      } catch (err) {
        pending.reject(err);
      }
    });
  }

  /** Validates and dispatches; returns why the message was refused, if it was. */
  private enqueue(msg: unknown, ask: PendingAsk | undefined): Error | undefined {
    if (!this.alive) {
      this.log.debug('message to a stopped actor dropped');
      return new Error(`actor ${this.path} is stopped`);
    }
    let payload = msg;
    const schema = this.behavior.schema;
    if (schema) {
      const parsed = schema.safeParse(msg);
      if (!parsed.success) {
        const issues = summarizeIssues(parsed.error);
        this.log.warn({ issues }, 'invalid message dropped');
        return new Error(`invalid message for ${this.path}: ${issues}`);
      }
      payload = parsed.data;
    }
    if (this.status === 'restarting' && this.queued >= this.options.maxBuffered) {
      this.log.warn({ maxBuffered: this.options.maxBuffered }, 'restart buffer full, message dropped');
      return new Error(`actor ${this.path} is restarting and its buffer is full`);
    }
    this.queued++;
    this.post({ kind: 'message', msg: payload, ask });
    return undefined;
  }

  // --- processing (the nact handler) ---------------------------------------------------------

  /**
   * Queues an envelope. nact runs one message per `setImmediate`, so an actor fed through it
   * handles at most one message per event-loop turn, and a busy process's turns are long (the
   * placement actor capped admission at ~250 messages/s). Envelopes therefore wait in this cell's
   * own inbox, and an idle inbox starts one drain that handles everything that arrived, still one
   * at a time and in order.
   *
   * The drain starts as a microtask, right after the code that posted: a task's path from submit
   * to engine crosses four actors, and one `setImmediate` per hop made it wait for the rest of the
   * turn's I/O callbacks four times (about 1 ms of time to first token on a loaded process, bench
   * `relay`). Past {@link MICROTASK_DRAINS_PER_TURN} in one turn, and to resume after a full
   * batch, the drain signal goes through nact instead, which yields to the event loop first.
   */
  private post(env: Envelope): void {
    this.inbox.push(env);
    if (this.draining) return;
    this.draining = true;
    if (microtaskDrains >= MICROTASK_DRAINS_PER_TURN) {
      dispatch(this.nactRef, undefined);
      return;
    }
    if (microtaskDrains === 0) setImmediate(newTurnOfDrains);
    microtaskDrains += 1;
    queueMicrotask(this.drainNow);
  }

  /** A drain outside nact; `process` catches every handler error, so a rejection is a runtime defect. */
  private readonly drainNow = (): void => {
    this.drain().catch((err: unknown) => this.log.error({ err }, 'runtime defect: drain failed'));
  };

  /** Handles queued envelopes in order; after a full batch it yields the turn (timers, I/O) and resumes. */
  private async drain(): Promise<undefined> {
    for (let handled = 0; handled < MAX_ENVELOPES_PER_TURN; handled += 1) {
      const env = this.inbox.shift();
      if (env === undefined) {
        this.draining = false;
        return undefined;
      }
      await this.process(env);
    }
    if (this.inbox.length > 0) dispatch(this.nactRef, undefined);
    else this.draining = false;
    return undefined;
  }

  private async process(env: Envelope): Promise<undefined> {
    if (env.kind === 'message') this.queued--;
    if (!this.alive) {
      if (env.kind === 'message') env.ask?.reject(new Error(`actor ${this.path} is stopped`));
      return undefined;
    }
    this.processing = true;
    try {
      await this.handle(env);
    } finally {
      this.processing = false;
    }
    if (this.stopSelfRequested && this.status === 'running') {
      this.stopSelfRequested = false;
      await this.exitNormally();
    }
    return undefined;
  }

  private async handle(env: Envelope): Promise<void> {
    const epoch = this.epoch;
    try {
      switch (env.kind) {
        case 'init':
          await this.initIncarnation();
          return;
        case 'message': {
          const next = await this.behavior.receive(this.state, env.msg, this.context(env.ask));
          if (epoch === this.epoch) this.state = next;
          return;
        }
        case 'child-exit': {
          if (env.epoch !== this.epoch || !this.behavior.onChildExit) return;
          const next = await this.behavior.onChildExit(this.state, env.exit, this.context(undefined));
          if (epoch === this.epoch) this.state = next;
          return;
        }
        case 'child-escalated':
          if (env.epoch !== this.epoch) return;
          throw new ChildEscalatedError(env.path, env.error);
        case 'stop-self':
          this.stopSelfRequested = true;
          return;
      }
    } catch (error) {
      // A stop ended this incarnation while the handler ran: its failure no longer matters.
      if (epoch !== this.epoch || !this.alive) {
        this.log.debug({ err: error }, 'failure after stop ignored');
        return;
      }
      await this.crashed(error, env);
    }
  }

  private async initIncarnation(): Promise<void> {
    const epoch = this.epoch;
    this.state = undefined;
    this.cleaned = false;
    this.stopSelfRequested = false;
    const state = await this.behavior.init(this.context(undefined));
    if (epoch !== this.epoch) return;
    this.state = state;
    this.status = 'running';
  }

  // --- supervision ---------------------------------------------------------------------------

  private async crashed(error: unknown, env: Envelope): Promise<void> {
    if (env.kind === 'message') env.ask?.reject(error);
    this.stopSelfRequested = false; // a crash cancels a stopSelf made by the failed handler
    const now = this.core.clock.now();
    const failure: ChildFailure = {
      child: this.name,
      error,
      restartsInWindow: pruneRestarts(this.restarts, now, this.options.restart).length,
    };
    let directive: Directive;
    try {
      directive = this.parent.supervise(this, failure);
    } catch (err) {
      this.log.error({ err }, 'supervise threw; escalating');
      directive = 'escalate';
    }
    // Without a state there is nothing to resume with.
    if (directive === 'resume' && (env.kind === 'init' || this.status !== 'running')) {
      directive = 'restart';
    }
    this.log.warn({ err: error, directive }, 'actor crashed');
    switch (directive) {
      case 'resume':
        if (env.kind === 'child-escalated') {
          // The parent survived its child's escalation: tell it the child is gone.
          this.post({
            kind: 'child-exit',
            epoch: this.epoch,
            exit: { child: env.child, reason: { kind: 'escalated', error: env.error } },
          });
        }
        return;
      case 'restart':
        await this.restartOrEscalate({ kind: 'crashed', error }, error);
        return;
      case 'stop':
        await this.stopForGood({ kind: 'crashed', error }, true);
        return;
      case 'escalate':
        await this.escalate(error);
        return;
    }
  }

  /** The actor stopped itself: restart a permanent child (OTP), stop the others for good. */
  private async exitNormally(): Promise<void> {
    if (defaultDirective(this.options.kind, 'normal') === 'restart') {
      const error = new Error(`permanent actor ${this.path} exited normally too often`);
      await this.restartOrEscalate({ kind: 'normal' }, error);
    } else {
      await this.stopForGood({ kind: 'normal' }, true);
    }
  }

  private async restartOrEscalate(reason: StopReason, escalation: unknown): Promise<void> {
    const check = checkRestart(this.restarts, this.core.clock.now(), this.options.restart);
    if (!check.allowed) {
      this.log.warn({ restartsInWindow: check.restartsInWindow }, 'restart limit exceeded');
      await this.escalate(escalation);
      return;
    }
    this.restarts = check.history;
    this.core.onRestart(this.path);
    await this.restart(reason, check.restartsInWindow);
  }

  /**
   * Waits out the backoff, then ends the old incarnation (children, then `onStop`) and starts a
   * new one. Runs inside the nact handler, so messages that arrive meanwhile wait in the mailbox.
   */
  private async restart(reason: StopReason, n: number): Promise<void> {
    this.status = 'restarting';
    const delay = backoffDelay(n, this.options.backoff, this.core.random());
    this.log.info({ delay_ms: delay, restart: n + 1 }, 'restarting after backoff');
    if (!(await this.sleep(delay)) || this.status !== 'restarting') return;
    await this.stopChildren();
    await this.cleanup(reason);
    if (this.status !== 'restarting') return;
    this.epoch++;
    const epoch = this.epoch;
    try {
      await this.initIncarnation();
    } catch (error) {
      if (epoch === this.epoch && this.alive) await this.crashed(error, { kind: 'init' });
    }
  }

  private async escalate(error: unknown): Promise<void> {
    await this.stopForGood({ kind: 'escalated', error }, false);
    this.parent.childEscalated(this, error, this.parentEpoch);
  }

  /** Resolves true after `ms` on the injected clock, or false when the actor stops first. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const handle = this.core.clock.setTimeout(() => {
        this.wake = undefined;
        resolve(true);
      }, ms);
      this.wake = () => {
        this.core.clock.clearTimeout(handle);
        this.wake = undefined;
        resolve(false);
      };
    });
  }

  // --- stopping ------------------------------------------------------------------------------

  /**
   * Stops for good: children first, then this incarnation's `onStop`, then pending asks are
   * rejected. `notify` delivers a ChildExit to the parent (not when the parent is the one
   * stopping us). Idempotent. Does not wait for a message being handled: its result is dropped.
   */
  stopForGood(reason: StopReason, notify: boolean): Promise<void> {
    if (this.stopping) return this.stopping;
    this.status = 'stopping';
    this.epoch++;
    this.wake?.();
    this.stopping = (async () => {
      await this.stopChildren();
      await this.cleanup(reason);
      for (const ask of [...this.pendingAsks]) ask.reject(new Error(`actor ${this.path} stopped`));
      nactStop(this.nactRef);
      this.status = 'stopped';
      if (this.parent.children.get(this.name) === this) this.parent.children.delete(this.name);
      this.log.debug({ reason: reason.kind }, 'actor stopped');
      if (notify) this.parent.childExited({ child: this.name, reason }, this.parentEpoch);
    })();
    return this.stopping;
  }

  private async stopChildren(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map((c) => c.stopForGood({ kind: 'parent-stopped' }, false)),
    );
  }

  private async cleanup(reason: StopReason): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    if (!this.behavior.onStop) return;
    try {
      await this.behavior.onStop(this.state, reason, this.context(undefined));
    } catch (err) {
      this.log.error({ err }, 'onStop failed');
    }
  }

  private requestStopSelf(): void {
    if (this.processing) this.stopSelfRequested = true;
    else if (this.alive) this.post({ kind: 'stop-self' });
  }

  // --- Parent --------------------------------------------------------------------------------

  assertCanSpawn(): void {
    if (!this.alive) throw new Error(`actor ${this.path} is stopped`);
  }

  supervise(child: Cell, failure: ChildFailure): Directive {
    const decide = this.behavior.supervise;
    return decide
      ? decide.call(this.behavior, failure, this.context(undefined))
      : defaultDirective(child.kind, 'crashed');
  }

  childExited(exit: ChildExit, epoch: number): void {
    if (this.alive) this.post({ kind: 'child-exit', epoch, exit });
  }

  childEscalated(child: Cell, error: unknown, epoch: number): void {
    if (this.alive) {
      this.post({ kind: 'child-escalated', epoch, child: child.name, path: child.path, error });
    }
  }

  // --- context -------------------------------------------------------------------------------

  /** The context of everything but an `ask` (built once: a context is a handful of closures). */
  private plainContext: ActorContext<unknown> | undefined;

  /** A context whose `reply` answers `ask` (the ask of the message being handled, if any). */
  private context(ask: PendingAsk | undefined): ActorContext<unknown> {
    if (ask === undefined) return (this.plainContext ??= this.newContext(undefined));
    return this.newContext(ask);
  }

  private newContext(ask: PendingAsk | undefined): ActorContext<unknown> {
    return {
      self: this.ref,
      name: this.name,
      path: this.path,
      clock: this.core.clock,
      log: this.log,
      reply: (value: unknown) => ask?.resolve(value),
      spawn: <S2, M2>(name: string, behavior: Behavior<S2, M2>, options: ChildOptions): ActorRef<M2> =>
        spawnCell(this.core, this, name, behavior, options).ref,
      child: <M2>(name: string): ActorRef<M2> | undefined => {
        const child = this.children.get(name);
        return child?.alive ? child.ref : undefined;
      },
      children: () => [...this.children.values()].filter((c) => c.alive).map((c) => c.name),
      stopSelf: () => this.requestStopSelf(),
    };
  }
}

function summarizeIssues(error: ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.map(String).join('.');
      return where ? `${where}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function counter(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}${++n}`;
}
