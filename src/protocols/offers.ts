/**
 * Offers and instances as Drover sees them, normalised from a provider, plus the Vast.ai wire
 * shapes (reference/vast-api.md) that both the Vast client and the simulated marketplace speak.
 * Wire schemas ignore unknown keys and accept Vast's loose types (ports as strings or ints).
 */
import { z } from 'zod';

/** Offer-selection strictness (seed-projects §B). */
export const StrictnessSchema = z.enum(['strict', 'balanced', 'aggressive']);
export type Strictness = z.infer<typeof StrictnessSchema>;

/** One rentable offer, normalised. */
export const OfferSchema = z.object({
  offer_id: z.string(),
  provider_host_id: z.string(),
  machine_id: z.string(),
  gpu_name: z.string(),
  num_gpus: z.number().int().positive(),
  gpu_ram_mb: z.number().nonnegative(),
  reliability: z.number().min(0).max(1),
  dph_total: z.number().nonnegative(),
  direct_port_count: z.number().int().nonnegative(),
  cuda_max_good: z.number().optional(),
  driver_version: z.string().optional(),
  verified: z.boolean(),
  rentable: z.boolean(),
  geolocation: z.string().optional(),
  inet_down: z.number().optional(),
});
export type Offer = z.infer<typeof OfferSchema>;

/** Instance status, normalised from Vast's `actual_status` (null → provisioning). */
export const InstanceStatusSchema = z.enum(['provisioning', 'created', 'loading', 'running', 'stopped', 'frozen', 'exited', 'rebooting', 'unknown', 'offline']);
export type InstanceStatus = z.infer<typeof InstanceStatusSchema>;

/** One instance, normalised. */
export const InstanceInfoSchema = z.object({
  instance_id: z.string(),
  label: z.string().optional(),
  provider_host_id: z.string(),
  machine_id: z.string().optional(),
  status: InstanceStatusSchema,
  status_msg: z.string().optional(),
  ssh: z.object({ host: z.string(), port: z.number().int().positive(), user: z.string() }).optional(),
  public_ip: z.string().optional(),
  /** Container port ("8000/tcp") → public address. */
  ports: z.record(z.string(), z.object({ host: z.string(), port: z.number().int().positive() })),
  gpu_name: z.string().optional(),
  dph_total: z.number().optional(),
  start_date: z.number().optional(),
});
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;

/** What to start on a rented instance (Vast create body, reference/vast-api.md §4). */
export const LaunchSpecSchema = z.object({
  image: z.string().default('vllm/vllm-openai:latest'),
  /** Extra env; the engine port mapping `-p 8000:8000` is added from `port`. */
  env: z.record(z.string(), z.string()).default({}),
  /** Script run after the container starts; `{model}` and `{port}` are substituted. */
  onstart: z.string().default('nohup vllm serve {model} --host 0.0.0.0 --port {port} > /tmp/vllm.log 2>&1 &'),
  disk_gb: z.number().positive().default(40),
  /** Container port of the engine. */
  port: z.number().int().positive().default(8000),
  /** Extra engine flags appended to the serve command (e.g. --max-model-len 4096). */
  engine_args: z.array(z.string()).default([]),
});
export type LaunchSpec = z.infer<typeof LaunchSpecSchema>;

// ---- Vast.ai wire shapes -----------------------------------------------------------------

const num = z.coerce.number();

/** A raw offer row of `POST /api/v0/bundles/` (subset Drover reads). */
export const VastOfferWireSchema = z.looseObject({
  id: num,
  ask_contract_id: num.optional(),
  machine_id: num,
  host_id: num,
  gpu_name: z.string(),
  num_gpus: num,
  gpu_ram: num,
  reliability2: num.optional(),
  reliability: num.optional(),
  dph_total: num,
  direct_port_count: num.optional(),
  cuda_max_good: num.optional(),
  driver_version: z.string().nullish(),
  verified: z.boolean().optional(),
  verification: z.string().nullish(),
  rentable: z.boolean().optional(),
  rented: z.boolean().optional(),
  geolocation: z.string().nullish(),
  inet_down: num.optional(),
});
export type VastOfferWire = z.infer<typeof VastOfferWireSchema>;

export const VastOffersResponseSchema = z.looseObject({ offers: z.array(z.unknown()) });

/** `PUT /api/v0/asks/{id}/` success. */
export const VastCreateResponseSchema = z.looseObject({ success: z.boolean(), new_contract: num.optional(), error: z.string().optional(), msg: z.string().optional() });

const portBinding = z.looseObject({ HostIp: z.string().optional(), HostPort: z.union([z.string(), z.number()]) });

/** One instance of `GET /api/v0/instances/{id}/` or the v1 list (subset Drover reads). */
export const VastInstanceWireSchema = z.looseObject({
  id: num,
  machine_id: num.optional(),
  host_id: num.optional(),
  actual_status: z.string().nullish(),
  intended_status: z.string().nullish(),
  cur_state: z.string().nullish(),
  status_msg: z.string().nullish(),
  label: z.string().nullish(),
  ssh_host: z.string().nullish(),
  ssh_port: num.nullish(),
  public_ipaddr: z.string().nullish(),
  ports: z.union([z.record(z.string(), z.array(portBinding).nullable()), z.array(z.unknown())]).nullish(),
  gpu_name: z.string().nullish(),
  dph_total: num.nullish(),
  start_date: num.nullish(),
});
export type VastInstanceWire = z.infer<typeof VastInstanceWireSchema>;

/** Vast's error envelope: `msg`, then `message`, then the raw text (reference/vast-api.md §8). */
export const VastErrorWireSchema = z.looseObject({ success: z.boolean().optional(), error: z.string().optional(), msg: z.string().optional(), message: z.string().optional() });

/**
 * `PUT /api/v0/asks/{id}/` request body as vast-cli `create__instance` sends it (reference/vast-api.md
 * §4). `env` is an object whose Docker-flag keys (`"-p 8000:8000": "1"`) carry port mappings; the
 * docs also allow a Docker-flag string.
 */
export const VastCreateRequestWireSchema = z.looseObject({
  client_id: z.string().optional(),
  image: z.string().min(1),
  env: z.union([z.record(z.string(), z.string()), z.string()]).nullish(),
  price: z.number().nullish(),
  disk: num.optional(),
  label: z.string().nullish(),
  extra: z.string().nullish(),
  onstart: z.string().nullish(),
  image_login: z.string().nullish(),
  python_utf8: z.boolean().optional(),
  lang_utf8: z.boolean().optional(),
  use_jupyter_lab: z.boolean().optional(),
  jupyter_dir: z.string().nullish(),
  force: z.boolean().optional(),
  cancel_unavail: z.boolean().optional(),
  template_hash_id: z.string().nullish(),
  user: z.string().nullish(),
  runtype: z.string().optional(),
  args: z.array(z.string()).nullish(),
  args_str: z.string().nullish(),
});
export type VastCreateRequestWire = z.infer<typeof VastCreateRequestWireSchema>;

/**
 * `GET /api/v0/instances/{id}/` envelope: one object, `null` once the instance is gone, or (older
 * edge cases) an array. Each row is then checked against VastInstanceWireSchema.
 */
export const VastShowInstanceResponseSchema = z.looseObject({
  instances: z.union([z.null(), z.array(z.unknown()), z.record(z.string(), z.unknown())]),
});

/** One page of `GET /api/v1/instances/`; follow `next_token` (as `after_token`) until it is falsy. */
export const VastInstancesPageWireSchema = z.looseObject({
  instances: z.array(z.unknown()),
  next_token: z.string().nullish(),
  total_instances: num.optional(),
});
