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
export { classifyFailure, executorFailed, summarizeProbes, FAILURE_SIGNATURES, MAX_EVIDENCE_CHARS, PROBE_OK_MARKER } from './classify.js';
export type { Classification, ClassifyInput, FatalClass, FailureSignature } from './classify.js';
export { assessProgress, extractMarkers, PROGRESS_MARKERS, STAGE_ORDER, stageIndex } from './progress.js';
export type { ProgressAssessment, ProgressMarker, ProgressObservation, ProgressState } from './progress.js';
export { decideReadiness, nextStage, resolveStageDeadlines, DEFAULT_STAGE_DEADLINES_MS } from './readiness.js';
export type { ReadinessDecision, ReadinessInput, ReadinessObservation } from './readiness.js';
export { filterAndRankOffers, excludedHosts, rejectOffer, STRICTNESS, KNOWN_GOOD_MIN_SCORE } from './offers.js';
export type { OfferContext, OfferRequirements, OfferSelection, StrictnessPolicy } from './offers.js';
export { reputationScore, recordOutcome, decayFactor, DEFAULT_REPUTATION_HALF_LIFE_MS } from './reputation.js';
export type { HostOutcome } from './reputation.js';
export { reactToHostFailure } from './pool-reactions.js';
export type { HostFailureInput, HostFailureReaction } from './pool-reactions.js';
export { readyCheckDelayMs, afterReadyCheck, loadChanged, publishesAtOnce, shouldRepublish, READY_WATCH_START, READY_CHECK_FAILURES } from './monitoring.js';
export type { ReadyCadence, ReadyWatch, ReadyCheckOutcome, ReadyCheckNext } from './monitoring.js';
