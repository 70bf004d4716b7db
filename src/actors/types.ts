/**
 * Contracts of the actor runtime (implemented in `runtime.ts` over nact, which nothing else
 * imports). Vocabulary from OTP and Akka: directives `resume | restart | stop | escalate`, child
 * kinds `permanent | transient | temporary`, restart limit `{maxRestarts, withinMs}`, backoff
 * `{minBackoffMs, maxBackoffMs, randomFactor}`.
 */
import type { Logger } from 'pino';
import type { ZodType } from 'zod';

/** Injected time, so deadlines and backoff are testable without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

// The supervision vocabulary is defined once, next to the pure decisions that use it.
export type { Backoff, ChildKind, Directive, RestartLimit } from '../policy/supervision.js';
import type { Backoff, ChildKind, Directive, RestartLimit } from '../policy/supervision.js';

/** How a parent runs one child. */
export interface ChildOptions {
  kind: ChildKind;
  restart?: RestartLimit;
  backoff?: Backoff;
  /** Messages buffered while the child waits out its restart backoff; beyond it they are dropped. */
  maxBuffered?: number;
}

/** Why an actor stopped. */
export type StopReason =
  | { kind: 'normal' }
  | { kind: 'crashed'; error: unknown }
  | { kind: 'escalated'; error: unknown }
  | { kind: 'parent-stopped' };

/** A crash reported to the parent's `supervise`. */
export interface ChildFailure {
  child: string;
  error: unknown;
  /** Restarts of this child inside the current window (before this crash). */
  restartsInWindow: number;
}

/** A child that has stopped for good (not a restart), delivered through the parent's mailbox. */
export interface ChildExit {
  child: string;
  reason: StopReason;
}

/** Address of an actor. Safe to hold across restarts: it always reaches the current incarnation. */
export interface ActorRef<M> {
  readonly name: string;
  /** Slash-separated path from the root, e.g. `drover/tasks/task-123`. */
  readonly path: string;
  /** Fire-and-forget. Never throws. Messages to a stopped actor are dropped and logged at debug. */
  tell(msg: M): void;
  /**
   * Sends `msg` and waits for the handler to call `ctx.reply`. Rejects on timeout, when the
   * handler crashes on this message, or when the actor is stopped.
   */
  ask<R>(msg: M, timeoutMs?: number): Promise<R>;
  /** Stops the actor (and its children) normally. */
  stop(): Promise<void>;
  /** True until the actor has stopped for good. */
  readonly alive: boolean;
}

/** What a handler can do besides returning its next state. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly name: string;
  readonly path: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Answers the `ask` that delivered the current message (no-op for a `tell`). */
  reply(value: unknown): void;
  /** Spawns a supervised child; names are unique among siblings. */
  spawn<S2, M2>(name: string, behavior: Behavior<S2, M2>, options: ChildOptions): ActorRef<M2>;
  /** A live child by name. */
  child<M2>(name: string): ActorRef<M2> | undefined;
  /** Names of the live children. */
  children(): string[];
  /** Stops this actor normally after the current message. */
  stopSelf(): void;
}

/** An actor's logic: state in, state out, one message at a time. */
export interface Behavior<S, M> {
  /** Messages that fail this schema are logged once and dropped; they never crash the actor. */
  schema?: ZodType<M>;
  /** Initial state; runs again on every restart. */
  init(ctx: ActorContext<M>): S | Promise<S>;
  /** Handles one message; a throw (or rejection) is a crash that the parent supervises. */
  receive(state: S, msg: M, ctx: ActorContext<M>): S | Promise<S>;
  /** Decides what to do with a crashed child; defaults from the child's kind. */
  supervise?(failure: ChildFailure, ctx: ActorContext<M>): Directive;
  /** A child stopped for good (normal exit, stop directive, escalation handled here). */
  onChildExit?(state: S, exit: ChildExit, ctx: ActorContext<M>): S | Promise<S>;
  /** Cleanup when this incarnation ends (stop or before a restart): timers, sockets. */
  onStop?(state: S | undefined, reason: StopReason, ctx: ActorContext<M>): void | Promise<void>;
}

/** The running system. */
export interface ActorSystem {
  readonly clock: Clock;
  /** Spawns a top-level actor under the root. */
  spawn<S, M>(name: string, behavior: Behavior<S, M>, options: ChildOptions): ActorRef<M>;
  /** Stops every actor, children first. */
  stop(): Promise<void>;
}

/** Options of `startActorSystem`. */
export interface ActorSystemOptions {
  name?: string;
  clock?: Clock;
  log: Logger;
  /** Random source in [0,1) for backoff jitter; injectable for deterministic tests. */
  random?: () => number;
  /** Called when a top-level actor escalates: the process should log and usually exit. */
  onFatal?: (path: string, error: unknown) => void;
  /** Called each time a supervised actor is restarted (metrics). */
  onRestart?: (path: string) => void;
}
