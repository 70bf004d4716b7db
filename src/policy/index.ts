/** Pure decisions (no I/O): admission, placement, supervision. */
export {
  PriorityQueues,
  admissionView,
  decideAdmission,
  applyAdmission,
  predictStartMs,
  backoffMs,
  updateEwma,
  MIN_BACKOFF_MS,
  MAX_BACKOFF_MS,
} from './admission.js';
export type { QueueEntry, AdmissionView, AdmissionConfig, AdmissionDecision } from './admission.js';
export {
  decide,
  replicaLoad,
  replicaScore,
  PLACEMENT_FILTERS,
  REJECTED_SAMPLE_CAP,
  AFFINITY_BONUS,
} from './placement.js';
export type {
  ReplicaSnapshot,
  PlacementJob,
  DecisionLog,
  PlacementDecision,
  PlacementInput,
  PlacementFilter,
} from './placement.js';
export { pruneRestarts, checkRestart, backoffDelay, defaultDirective } from './supervision.js';
export type { RestartCheck, ExitCause } from './supervision.js';
