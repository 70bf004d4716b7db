/** The one vocabulary: every message that crosses a boundary. */
export {
  ERROR_CODES,
  ErrorCodeSchema,
  ErrorEnvelopeSchema,
  DroverError,
  statusOf,
  makeEnvelope,
  toEnvelope,
  describeZodError,
} from './errors.js';
export type { ErrorCode, ErrorEnvelope } from './errors.js';
export {
  ENGINES,
  EngineKindSchema,
  PrioritySchema,
  MAX_TOKENS_LIMIT,
  DEFAULT_DEADLINE_MS,
  PlacementOverridesSchema,
  TaskRequestSchema,
  TaskSpecSchema,
  SubmitTaskSchema,
  AdmissionResponseSchema,
  TaskStateSchema,
  TERMINAL_TASK_STATES,
  TaskRecordSchema,
  CancelTaskSchema,
  CancelReplySchema,
  normalizeTaskRequest,
  toTaskView,
} from './tasks.js';
export type {
  EngineKind,
  Priority,
  PlacementOverrides,
  TaskRequestInput,
  TaskSpec,
  SubmitTask,
  AdmissionResponse,
  TaskState,
  TaskRecord,
  TaskView,
  CancelReply,
} from './tasks.js';
export {
  StartedEventSchema,
  TokenEventSchema,
  MetricsEventSchema,
  EndEventSchema,
  ErrorEventSchema,
  TaskEventSchema,
  isTerminalEvent,
} from './events.js';
export type { TaskEvent, TaskEventType, SequencedTaskEvent } from './events.js';
export {
  ReplicaHealthSchema,
  EngineLoadSchema,
  ReplicaStatusSchema,
  PoolStatusSchema,
  ReplicaViewSchema,
  PoolViewSchema,
  PoolHealthSchema,
  PoolQuerySchema,
  PoolQueryReplySchema,
} from './pools.js';
export type {
  ReplicaHealth,
  EngineLoad,
  ReplicaStatus,
  PoolStatus,
  ReplicaView,
  PoolView,
  PoolHealth,
  PoolQueryReply,
} from './pools.js';
export { SUBJECT_PREFIX, subjects, assertSubjectToken, taskIdFromSubject, QUEUE_GROUPS, KV_BUCKETS, STREAMS } from './subjects.js';
export { encode, decode, encodingOf, JSON_CONTENT_TYPE, MSGPACK_CONTENT_TYPE } from './codec.js';
export type { Encoding } from './codec.js';
export {
  DEFAULT_MODEL,
  StaticReplicaSchema,
  StaticPoolSchema,
  SimEnginesSchema,
  AdmissionPolicySchema,
  FleetPoolSchema,
  FleetSettingsSchema,
  StageDeadlinesSchema,
  DroverConfigSchema,
} from './config.js';
export type { FleetPoolConfig, FleetSettings, StaticPoolConfig, SimEnginesConfig, AdmissionPolicyName, DroverConfig, DroverConfigInput } from './config.js';
export { TaskDispatchSchema, TaskOutcomeSchema } from './actors.js';
export type { TaskDispatch, TaskOutcome } from './actors.js';
export {
  HostStateSchema,
  FailureClassSchema,
  READINESS_STAGES,
  ReadinessStageSchema,
  ProbeResultSchema,
  HostFailureSchema,
  HostTransitionSchema,
  SshAddressSchema,
  HostRecordSchema,
  BlacklistEntrySchema,
  ReputationSchema,
  workloadKey,
} from './hosts.js';
export type {
  HostState,
  FailureClass,
  ReadinessStage,
  ProbeResult,
  HostFailure,
  HostTransition,
  SshAddress,
  HostRecord,
  BlacklistEntry,
  Reputation,
} from './hosts.js';
export {
  StrictnessSchema,
  OfferSchema,
  InstanceStatusSchema,
  InstanceInfoSchema,
  LaunchSpecSchema,
  VastOfferWireSchema,
  VastOffersResponseSchema,
  VastCreateResponseSchema,
  VastInstanceWireSchema,
  VastErrorWireSchema,
} from './offers.js';
export type { Strictness, Offer, InstanceStatus, InstanceInfo, LaunchSpec, VastOfferWire, VastInstanceWire } from './offers.js';
