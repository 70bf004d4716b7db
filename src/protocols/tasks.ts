/**
 * Task vocabulary: the request a client submits (llama-orch v2 TaskRequest, seed-projects §A2,
 * with practical defaults), the admission answer (§A3), and the durable TaskRecord kept in KV
 * `drover_tasks`.
 */
import { z } from 'zod';
import { ErrorEnvelopeSchema } from './errors.js';

export const ENGINES = ['vllm', 'llamacpp', 'tgi', 'triton', 'mock'] as const;
export const EngineKindSchema = z.enum(ENGINES);
export type EngineKind = z.infer<typeof EngineKindSchema>;

export const PrioritySchema = z.enum(['interactive', 'batch']);
export type Priority = z.infer<typeof PrioritySchema>;

/** Upper bound on max_tokens accepted at the door; the replica's context limit is checked at placement. */
export const MAX_TOKENS_LIMIT = 131_072;
/** Default time budget for a task to start (ms from admission). */
export const DEFAULT_DEADLINE_MS = 600_000;

export const PlacementOverridesSchema = z.object({
  mode: z.enum(['pin', 'prefer', 'auto']).default('auto'),
  pin_pool_id: z.string().min(1).optional(),
  prefer_pools: z.array(z.string().min(1)).max(64).optional(),
  avoid_pools: z.array(z.string().min(1)).max(64).optional(),
  require_device_mask: z.string().optional(),
  allow_fallback: z.boolean().default(true),
});
export type PlacementOverrides = z.infer<typeof PlacementOverridesSchema>;

const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, "_" and "-"');

/**
 * What a client may send. `model` is an alias of `model_ref`; `model` + `prompt` are enough.
 * Unknown keys are ignored (forward compatibility); wrong types are INVALID_PARAMS.
 */
export const TaskRequestSchema = z
  .object({
    task_id: id.optional(),
    session_id: id.optional(),
    workload: z.enum(['completion', 'embedding', 'rerank']).default('completion'),
    model_ref: z.string().min(1).max(512).optional(),
    model: z.string().min(1).max(512).optional(),
    engine: EngineKindSchema.optional(),
    ctx: z.number().int().nonnegative().max(10_000_000).optional(),
    priority: PrioritySchema.default('interactive'),
    seed: z.number().int().optional(),
    determinism: z.enum(['strict', 'best_effort']).optional(),
    sampler_profile_version: z.string().max(64).optional(),
    prompt: z.string().max(1_000_000).optional(),
    inputs: z.array(z.string().max(1_000_000)).max(64).optional(),
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(256),
    temperature: z.number().min(0).max(10).optional(),
    deadline_ms: z.number().int().max(86_400_000).default(DEFAULT_DEADLINE_MS),
    expected_tokens: z.number().int().nonnegative().optional(),
    kv_hint: z.enum(['reuse', 'cold']).optional(),
    placement: PlacementOverridesSchema.optional(),
    output_mode: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.model_ref === undefined && r.model === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'model (or model_ref) is required' });
    }
    if (r.model_ref !== undefined && r.model !== undefined && r.model_ref !== r.model) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'model and model_ref differ; send one' });
    }
    if (r.prompt === undefined && (r.inputs === undefined || r.inputs.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'prompt (or inputs) is required' });
    }
    if (r.workload !== 'completion') {
      ctx.addIssue({ code: 'custom', path: ['workload'], message: `workload ${r.workload} is not supported yet` });
    }
  });
export type TaskRequestInput = z.input<typeof TaskRequestSchema>;

/** A request after defaults and normalisation: what placement and TaskActors work with. */
export const TaskSpecSchema = z.object({
  task_id: id,
  session_id: id,
  model: z.string(),
  engine: EngineKindSchema.optional(),
  prompt: z.string(),
  max_tokens: z.number().int().positive(),
  priority: PrioritySchema,
  ctx: z.number().int().nonnegative().optional(),
  seed: z.number().int().optional(),
  temperature: z.number().optional(),
  deadline_ms: z.number().int(),
  expected_tokens: z.number().int().optional(),
  placement: PlacementOverridesSchema.optional(),
});
export type TaskSpec = z.infer<typeof TaskSpecSchema>;

/** A submit message on `drover.tasks.submit`: the parsed spec plus who asked. */
export const SubmitTaskSchema = z.object({
  spec: TaskSpecSchema,
  correlation_id: z.string(),
});
export type SubmitTask = z.infer<typeof SubmitTaskSchema>;

/** 202 body (llama-orch AdmissionResponse). */
export const AdmissionResponseSchema = z.object({
  task_id: z.string(),
  queue_position: z.number().int().nonnegative(),
  predicted_start_ms: z.number().nonnegative(),
  backoff_ms: z.number().nonnegative(),
  streams: z.object({ sse: z.string(), sse_verbose: z.string() }).optional(),
});
export type AdmissionResponse = z.infer<typeof AdmissionResponseSchema>;

export const TaskStateSchema = z.enum(['queued', 'running', 'completed', 'failed', 'canceled']);
export type TaskState = z.infer<typeof TaskStateSchema>;
export const TERMINAL_TASK_STATES: readonly TaskState[] = ['completed', 'failed', 'canceled'];

/** The durable record of one admitted task (KV `drover_tasks`, key = task_id). */
export const TaskRecordSchema = z.object({
  task_id: z.string(),
  spec: TaskSpecSchema,
  state: TaskStateSchema,
  /** Node (process) that admitted the task and owns its queue entry. */
  owner: z.string(),
  correlation_id: z.string(),
  admitted_at: z.number(),
  started_at: z.number().optional(),
  first_token_at: z.number().optional(),
  ended_at: z.number().optional(),
  pool_id: z.string().optional(),
  replica_id: z.string().optional(),
  attempts: z.number().int().nonnegative().default(0),
  tokens_out: z.number().int().nonnegative().optional(),
  canceled: z.boolean().optional(),
  error: ErrorEnvelopeSchema.optional(),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** GET /v2/tasks/:id body. */
export type TaskView = Omit<TaskRecord, 'owner' | 'spec'> & {
  model: string;
  priority: Priority;
  max_tokens: number;
};

export function toTaskView(r: TaskRecord): TaskView {
  const { owner: _owner, spec, ...rest } = r;
  return { ...rest, model: spec.model, priority: spec.priority, max_tokens: spec.max_tokens };
}

/** Cancel request on `drover.tasks.<id>.cancel` (the id is in the subject). */
export const CancelTaskSchema = z.object({ correlation_id: z.string().optional() });
export const CancelReplySchema = z.object({
  task_id: z.string(),
  /** What cancel found: it removed a queued task, stopped a running one, or the task had already ended. */
  outcome: z.enum(['dequeued', 'stopped', 'already_ended']),
});
export type CancelReply = z.infer<typeof CancelReplySchema>;

/** Parsed request → spec: fills ids, resolves the `model` alias, joins `inputs` when no prompt. */
export function normalizeTaskRequest(
  req: z.output<typeof TaskRequestSchema>,
  newId: () => string,
): TaskSpec {
  const model = (req.model_ref ?? req.model) as string;
  return {
    task_id: req.task_id ?? newId(),
    session_id: req.session_id ?? newId(),
    model,
    ...(req.engine === undefined ? {} : { engine: req.engine }),
    prompt: req.prompt ?? (req.inputs ?? []).join('\n'),
    max_tokens: req.max_tokens,
    priority: req.priority,
    ...(req.ctx === undefined ? {} : { ctx: req.ctx }),
    ...(req.seed === undefined ? {} : { seed: req.seed }),
    ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
    deadline_ms: req.deadline_ms,
    ...(req.expected_tokens === undefined ? {} : { expected_tokens: req.expected_tokens }),
    ...(req.placement === undefined ? {} : { placement: req.placement }),
  };
}
