/**
 * The operator surface (DESIGN §4, `drover.ops.*`): the NATS micro service `drover-ops` that
 * `drover ctl` and any NATS client talk to, the request and reply of each endpoint, the desired
 * state it edits (KV `drover_pools`, `drover_settings`) and the pool-control message it publishes
 * on `drover.pools.<id>.control` so a PoolActor reacts at once instead of on its next KV read.
 *
 * Requests whose fields are all optional also accept an empty payload (`nats req … ''`).
 */
import { z } from 'zod';
import { BlacklistEntrySchema, HostRecordSchema, HostStateSchema, HostTransitionSchema, FailureClassSchema, ReputationSchema } from './hosts.js';
import { StrictnessSchema } from './offers.js';
import { EngineKindSchema } from './tasks.js';
import { KV_BUCKETS, subjects } from './subjects.js';

/** Name of the micro service; `$SRV.PING.drover-ops` / `$SRV.INFO.drover-ops` find it. */
export const OPS_SERVICE = 'drover-ops';
/** Semver of the ops protocol, reported by `$SRV.INFO` (micro requires semver). */
export const OPS_SERVICE_VERSION = '1.0.0';

/** Request/reply subjects of the `drover-ops` endpoints. */
export const OPS_SUBJECTS = {
  hostsList: 'drover.ops.hosts.list',
  hostsShow: 'drover.ops.hosts.show',
  blacklistList: 'drover.ops.blacklist.list',
  blacklistAdd: 'drover.ops.blacklist.add',
  blacklistRemove: 'drover.ops.blacklist.remove',
  blacklistClear: 'drover.ops.blacklist.clear',
  poolsList: 'drover.ops.pools.list',
  poolsScale: 'drover.ops.pools.scale',
  poolsDrain: 'drover.ops.pools.drain',
  strictnessGet: 'drover.ops.strictness.get',
  strictnessSet: 'drover.ops.strictness.set',
} as const;

/** Publish subject of pool-control messages for one pool (one definition: `subjects.poolControl`). */
export const poolControlSubject = subjects.poolControl;
/** Wildcard over every pool's control subject. */
export const ALL_POOL_CONTROLS = 'drover.pools.*.control';

/** KV buckets the ops service edits: pool specs (desired state) and fleet-wide settings. */
export const OPS_KV_BUCKETS = { pools: KV_BUCKETS.pools, settings: KV_BUCKETS.settings } as const;
/** Keys of KV `drover_settings`. */
export const SETTINGS_KEYS = { strictness: 'strictness' } as const;

/** Ids that become KV keys or subject tokens: letters, digits, `_` and `-`. */
const tokenId = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, "_" and "-"');
/** A KV key: letters, digits and `-/_=.`, not starting or ending with `.` (nats.js rejects others). */
const kvKey = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[-/_=.A-Za-z0-9]+$/, 'only letters, digits and "-/_=."')
  .refine((k) => !k.startsWith('.') && !k.endsWith('.'), 'must not start or end with "."');
/** Who is asking; recorded as `by` / `updated_by`. The service uses "operator" when absent. */
const operator = z.string().min(1).max(128).optional();
/** The ops service's name for a write whose request named nobody. */
export const DEFAULT_OPERATOR = 'operator';

// ---- desired state -------------------------------------------------------------------------

/** KV `drover_pools`, key = pool_id: the desired state of one pool, written by operators/config. */
export const PoolSpecRecordSchema = z.object({
  pool_id: tokenId,
  model: z.string().min(1),
  engine: EngineKindSchema,
  desired_replicas: z.number().int().nonnegative().max(1000),
  /** A draining pool takes no new tasks and winds its hosts down; scaling it clears the flag. */
  draining: z.boolean(),
  updated_at: z.number(),
  updated_by: z.string(),
});
export type PoolSpecRecord = z.infer<typeof PoolSpecRecordSchema>;

/**
 * KV `drover_settings`, key `strictness`: the offer-selection strictness the fleet uses. Settings
 * share the shape `{value, updated_at?, updated_by?}` so a reader that only knows `{value}` (or an
 * operator with `nats kv put drover_settings strictness '{"value":"balanced"}'`) fits too.
 */
export const StrictnessSettingSchema = z.object({
  value: StrictnessSchema,
  updated_at: z.number().optional(),
  updated_by: z.string().optional(),
});
export type StrictnessSetting = z.infer<typeof StrictnessSettingSchema>;

/** Published on `drover.pools.<id>.control` after the spec in KV changed; KV stays the truth. */
export const PoolControlSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('pool.scale'),
    pool_id: z.string(),
    replicas: z.number().int().nonnegative(),
    /** KV revision of the spec that carries this change (older messages can be ignored). */
    revision: z.number().int().positive(),
    by: z.string(),
    at: z.number(),
  }),
  z.object({
    type: z.literal('pool.drain'),
    pool_id: z.string(),
    revision: z.number().int().positive(),
    by: z.string(),
    at: z.number(),
  }),
]);
export type PoolControl = z.infer<typeof PoolControlSchema>;

// ---- hosts ---------------------------------------------------------------------------------

/** A blacklist entry with its KV key (`<scope>.<provider_host_id>[.<workload>]`). */
export const BlacklistItemSchema = BlacklistEntrySchema.extend({ key: z.string() });
export type BlacklistItem = z.infer<typeof BlacklistItemSchema>;
/** Blacklist scopes. */
export const BlacklistScopeSchema = BlacklistEntrySchema.shape.scope;
export type BlacklistScope = z.infer<typeof BlacklistScopeSchema>;

/** `drover.ops.hosts.list` request: every host, optionally of one pool and/or in one state. */
export const HostsListRequestSchema = z.object({ pool_id: z.string().min(1).optional(), state: HostStateSchema.optional() }).default({});
export type HostsListRequest = z.input<typeof HostsListRequestSchema>;
/** One line of `hosts.list`: the record's identity and its diagnostics at a glance. */
export const HostSummarySchema = z.object({
  host_id: z.string(),
  pool_id: z.string(),
  provider: HostRecordSchema.shape.provider,
  provider_host_id: z.string(),
  instance_id: z.string().optional(),
  gpu_name: z.string().optional(),
  price_per_hour: z.number().optional(),
  engine: EngineKindSchema,
  model: z.string(),
  state: HostStateSchema,
  stage: HostRecordSchema.shape.stage,
  failure_class: FailureClassSchema.optional(),
  failure_reason: z.string().optional(),
  last_transition: HostTransitionSchema.optional(),
  /** Any blacklist entry (any scope) names this host's provider_host_id. */
  blacklisted: z.boolean(),
  updated_at: z.number(),
});
export type HostSummary = z.infer<typeof HostSummarySchema>;
/** `drover.ops.hosts.list` reply, sorted by pool then host id. */
export const HostsListReplySchema = z.object({ hosts: z.array(HostSummarySchema) });
export type HostsListReply = z.infer<typeof HostsListReplySchema>;

/** `drover.ops.hosts.show` request. Unknown host → NOT_FOUND. */
export const HostsShowRequestSchema = z.object({ host_id: kvKey });
export type HostsShowRequest = z.input<typeof HostsShowRequestSchema>;
/** The whole record (transitions, failure evidence) plus what the fleet remembers of its machine. */
export const HostsShowReplySchema = z.object({
  host: HostRecordSchema,
  reputation: ReputationSchema.optional(),
  blacklist: z.array(BlacklistItemSchema),
});
export type HostsShowReply = z.infer<typeof HostsShowReplySchema>;

// ---- blacklist -----------------------------------------------------------------------------

/** `drover.ops.blacklist.list` request: every entry, optionally one scope or one host. */
export const BlacklistListRequestSchema = z.object({ scope: BlacklistScopeSchema.optional(), provider_host_id: z.string().min(1).optional() }).default({});
export type BlacklistListRequest = z.input<typeof BlacklistListRequestSchema>;
/** `drover.ops.blacklist.list` reply, sorted by key. */
export const BlacklistListReplySchema = z.object({ entries: z.array(BlacklistItemSchema) });
export type BlacklistListReply = z.infer<typeof BlacklistListReplySchema>;

/** `drover.ops.blacklist.add` request: an operator-scoped entry (re-adding replaces the reason). */
export const BlacklistAddRequestSchema = z.object({
  provider_host_id: tokenId,
  reason: z.string().trim().min(1).max(1000),
  operator,
  evidence: z.string().max(10_000).optional(),
});
export type BlacklistAddRequest = z.input<typeof BlacklistAddRequestSchema>;
/** `drover.ops.blacklist.add` reply: the entry as stored; `created` false when it replaced one. */
export const BlacklistAddReplySchema = z.object({ entry: BlacklistItemSchema, created: z.boolean() });
export type BlacklistAddReply = z.infer<typeof BlacklistAddReplySchema>;

/**
 * `drover.ops.blacklist.remove` request: un-blacklists one host. Without `scope` it removes the
 * host's operator and global entries (workload entries record an incompatibility, so they go only
 * when asked for by scope). Nothing to remove → NOT_FOUND.
 */
export const BlacklistRemoveRequestSchema = z.object({ provider_host_id: z.string().min(1), scope: BlacklistScopeSchema.optional(), operator });
export type BlacklistRemoveRequest = z.input<typeof BlacklistRemoveRequestSchema>;
/**
 * What `remove`/`clear` deleted. `kept` counts the entries that stay: of that host (remove) or in
 * the whole blacklist (clear).
 */
export const BlacklistRemovedReplySchema = z.object({ removed: z.array(BlacklistItemSchema), kept: z.number().int().nonnegative() });
export type BlacklistRemovedReply = z.infer<typeof BlacklistRemovedReplySchema>;

/** `drover.ops.blacklist.clear` request: removes every operator and global entry. */
export const BlacklistClearRequestSchema = z.object({ operator }).default({});
export type BlacklistClearRequest = z.input<typeof BlacklistClearRequestSchema>;

// ---- pools ---------------------------------------------------------------------------------

/** `drover.ops.pools.list` request. */
export const PoolsListRequestSchema = z.object({}).default({});
/** `drover.ops.pools.list` reply, sorted by pool id. */
export const PoolsListReplySchema = z.object({ pools: z.array(PoolSpecRecordSchema) });
export type PoolsListReply = z.infer<typeof PoolsListReplySchema>;

/** `drover.ops.pools.scale` request. Unknown pool → NOT_FOUND. */
export const PoolsScaleRequestSchema = z.object({ pool_id: tokenId, replicas: z.number().int().nonnegative().max(1000), operator });
export type PoolsScaleRequest = z.input<typeof PoolsScaleRequestSchema>;
/** `drover.ops.pools.drain` request. Unknown pool → NOT_FOUND. */
export const PoolsDrainRequestSchema = z.object({ pool_id: tokenId, operator });
export type PoolsDrainRequest = z.input<typeof PoolsDrainRequestSchema>;
/** Reply of scale and drain: the spec as written and what it was before. */
export const PoolUpdateReplySchema = z.object({ pool: PoolSpecRecordSchema, previous: PoolSpecRecordSchema, revision: z.number().int().positive() });
export type PoolUpdateReply = z.infer<typeof PoolUpdateReplySchema>;

// ---- strictness ----------------------------------------------------------------------------

/** `drover.ops.strictness.get` request. */
export const StrictnessGetRequestSchema = z.object({}).default({});
/** `source: default` means nobody set it yet and the service's configured default applies. */
export const StrictnessReplySchema = z.object({
  strictness: StrictnessSchema,
  source: z.enum(['kv', 'default']),
  updated_at: z.number().optional(),
  updated_by: z.string().optional(),
  previous: StrictnessSchema.optional(),
});
export type StrictnessReply = z.infer<typeof StrictnessReplySchema>;
/** `drover.ops.strictness.set` request. */
export const StrictnessSetRequestSchema = z.object({ strictness: StrictnessSchema, operator });
export type StrictnessSetRequest = z.input<typeof StrictnessSetRequestSchema>;
