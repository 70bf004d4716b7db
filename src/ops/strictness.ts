/**
 * `drover.ops.strictness.*`: the offer-selection strictness of the fleet, KV `drover_settings` key
 * `strictness`. Until someone sets it, the configured default is in effect and reported as such.
 */
import { DEFAULT_OPERATOR, SETTINGS_KEYS, type StrictnessReply } from '../protocols/index.js';
import type { Strictness } from '../protocols/index.js';
import { casWrite } from './cas.js';
import type { OpsContext } from './types.js';

/** `strictness.get`. */
export async function getStrictness(ctx: OpsContext): Promise<StrictnessReply> {
  const stored = await ctx.settings.get(SETTINGS_KEYS.strictness);
  if (stored === undefined) return { strictness: ctx.defaultStrictness, source: 'default' };
  const s = stored.value;
  return {
    strictness: s.value,
    source: 'kv',
    ...(s.updated_at === undefined ? {} : { updated_at: s.updated_at }),
    ...(s.updated_by === undefined ? {} : { updated_by: s.updated_by }),
  };
}

/** `strictness.set`: writes the setting; `previous` is what was in effect before. */
export async function setStrictness(ctx: OpsContext, req: { strictness: Strictness; operator?: string | undefined }): Promise<StrictnessReply> {
  const by = req.operator ?? DEFAULT_OPERATOR;
  const at = ctx.clock.now();
  const written = await casWrite(ctx.settings, SETTINGS_KEYS.strictness, () => ({ value: req.strictness, updated_at: at, updated_by: by }), ctx.casAttempts);
  const previous = written.previous?.value ?? ctx.defaultStrictness;
  ctx.log.info({ from: previous, to: req.strictness, by }, `strictness set to ${req.strictness} by ${by}`);
  return { strictness: req.strictness, source: 'kv', updated_at: at, updated_by: by, previous };
}
