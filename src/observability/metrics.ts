/**
 * Drover's Prometheus metrics (DESIGN §9), on an injected prom-client Registry. This module owns
 * the names, help texts and label sets so cardinality stays bounded: labels are pool ids, replica
 * ids, priorities and reasons — never task ids.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Typed handles of every scheduler metric. */
export interface DroverMetrics {
  tasksEnqueued: Counter<'priority'>;
  tasksStarted: Counter<'pool_id' | 'replica_id' | 'priority'>;
  tasksEnded: Counter<'outcome'>;
  tasksCanceled: Counter<'reason'>;
  tasksRejected: Counter<'reason'>;
  tasksRetried: Counter<'pool_id'>;
  queueDepth: Gauge<'priority'>;
  slotsBusy: Gauge<'pool_id' | 'replica_id'>;
  slotsTotal: Gauge<'pool_id' | 'replica_id'>;
  replicasReady: Gauge<'pool_id'>;
  firstTokenMs: Histogram<'pool_id' | 'priority'>;
  decodeMs: Histogram<'pool_id' | 'priority'>;
  tokensOut: Counter<'pool_id'>;
  placementDecisions: Counter<'outcome'>;
  backpressureEvents: Counter<'policy'>;
  invalidMessages: Counter<'source'>;
  hostsByState: Gauge<'pool_id' | 'state'>;
  provisioningOutcomes: Counter<'pool_id' | 'outcome'>;
  stageSeconds: Histogram<'stage'>;
  actorRestarts: Counter<'actor'>;
  spendDollars: Gauge<'pool_id'>;
}

const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

/** Registers the metrics on `registry`. Call once per registry. */
export function createDroverMetrics(registry: Registry): DroverMetrics {
  const registers = [registry];
  return {
    tasksEnqueued: new Counter({ name: 'drover_tasks_enqueued_total', help: 'Tasks admitted to the queue.', labelNames: ['priority'], registers }),
    tasksStarted: new Counter({ name: 'drover_tasks_started_total', help: 'Tasks dispatched to a replica (each attempt).', labelNames: ['pool_id', 'replica_id', 'priority'], registers }),
    tasksEnded: new Counter({ name: 'drover_tasks_ended_total', help: 'Tasks that reached a terminal state.', labelNames: ['outcome'], registers }),
    tasksCanceled: new Counter({ name: 'drover_tasks_canceled_total', help: 'Tasks canceled, by where they were.', labelNames: ['reason'], registers }),
    tasksRejected: new Counter({ name: 'drover_tasks_rejected_total', help: 'Submissions refused, by error code.', labelNames: ['reason'], registers }),
    tasksRetried: new Counter({ name: 'drover_tasks_retried_total', help: 'Tasks retried on another replica after failing before the first token.', labelNames: ['pool_id'], registers }),
    queueDepth: new Gauge({ name: 'drover_queue_depth', help: 'Tasks waiting in the admission queue.', labelNames: ['priority'], registers }),
    slotsBusy: new Gauge({ name: 'drover_slots_busy', help: 'Slots handed out to running tasks.', labelNames: ['pool_id', 'replica_id'], registers }),
    slotsTotal: new Gauge({ name: 'drover_slots_total', help: 'Slots per replica.', labelNames: ['pool_id', 'replica_id'], registers }),
    replicasReady: new Gauge({ name: 'drover_replicas_ready', help: 'Ready replicas per pool.', labelNames: ['pool_id'], registers }),
    firstTokenMs: new Histogram({ name: 'drover_latency_first_token_ms', help: 'Admission to first token, ms.', labelNames: ['pool_id', 'priority'], buckets: LATENCY_BUCKETS_MS, registers }),
    decodeMs: new Histogram({ name: 'drover_latency_decode_ms', help: 'First token to end, ms.', labelNames: ['pool_id', 'priority'], buckets: LATENCY_BUCKETS_MS, registers }),
    tokensOut: new Counter({ name: 'drover_tokens_out_total', help: 'Tokens streamed to clients.', labelNames: ['pool_id'], registers }),
    placementDecisions: new Counter({ name: 'drover_placement_decisions_total', help: 'Placement decisions by outcome.', labelNames: ['outcome'], registers }),
    backpressureEvents: new Counter({ name: 'drover_admission_backpressure_events_total', help: 'Full-queue events by policy.', labelNames: ['policy'], registers }),
    invalidMessages: new Counter({ name: 'drover_invalid_messages_total', help: 'Malformed messages dropped at a boundary.', labelNames: ['source'], registers }),
    hostsByState: new Gauge({ name: 'drover_hosts', help: 'Hosts of fleet pools by state.', labelNames: ['pool_id', 'state'], registers }),
    provisioningOutcomes: new Counter({ name: 'drover_provisioning_outcomes_total', help: 'Host provisioning outcomes: ready or the failure class.', labelNames: ['pool_id', 'outcome'], registers }),
    stageSeconds: new Histogram({ name: 'drover_host_stage_seconds', help: 'Time spent per readiness stage.', labelNames: ['stage'], buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900], registers }),
    actorRestarts: new Counter({ name: 'drover_actor_restarts_total', help: 'Supervised actor restarts.', labelNames: ['actor'], registers }),
    spendDollars: new Gauge({ name: 'drover_spend_dollars', help: 'Money spent per pool: price x time of every host it rented.', labelNames: ['pool_id'], registers }),
  };
}
