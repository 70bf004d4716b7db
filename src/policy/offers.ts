/**
 * Offer selection (DESIGN §5, seed-projects §B `provisionInstanceFromOffers`): which marketplace
 * offers a pool may rent, and in which order to try them.
 *
 * Filters (the first that fails names the rejection): excluded host (blacklists and the pool's own
 * hosts), verified, rentable, GPU count, GPU memory, GPU model, price cap, and the strictness
 * thresholds on Vast's `reliability2` and `direct_port_count`. Ranking: known-good hosts first when
 * the strictness prefers them, then decayed reputation, then price, then `offer_id`, so the same
 * offers always rank the same way whatever order the marketplace returned them in.
 *
 * Pure: `now` comes in for the reputation decay.
 */
import type { BlacklistEntry, Offer, Reputation, Strictness } from '../protocols/index.js';
import { reputationScore } from './reputation.js';

/** The thresholds of one strictness level. */
export interface StrictnessPolicy {
  /** Minimum Vast `reliability2` (0–1; its uptime-history score). */
  reliability_gte: number;
  /** Minimum directly mapped ports. */
  direct_port_count_gte: number;
  /** Rank hosts that booted fine for us before ahead of everything else. */
  prefer_known_good: boolean;
}

/**
 * The compute_orchestrator strictness table (seed-projects §B), unchanged: it was tuned on real
 * Vast rentals. `strict` (the default) accepts 0.5 % unreliability and wants 16 direct ports, so the
 * engine, SSH and metrics ports are always mappable; `aggressive` trades reliability for supply
 * (dstack's default floor is 0.9, anchors §2) and stops preferring known hosts so that new ones get
 * tried.
 */
export const STRICTNESS: Record<Strictness, StrictnessPolicy> = {
  strict: { reliability_gte: 0.995, direct_port_count_gte: 16, prefer_known_good: true },
  balanced: { reliability_gte: 0.98, direct_port_count_gte: 8, prefer_known_good: true },
  aggressive: { reliability_gte: 0.95, direct_port_count_gte: 4, prefer_known_good: false },
};

/**
 * Minimum decayed score for a host with successes to count as known-good: one success within about
 * a half-life (score ≥ 1/3) qualifies, one from several days ago (or one cancelled by a recent infra
 * failure) does not.
 */
export const KNOWN_GOOD_MIN_SCORE = 0.25;

/** What a pool asks of an offer (config `offer`). */
export interface OfferRequirements {
  /** Accepted GPU models; matched ignoring case and the `_`/`-`/space spelling differences. */
  gpu_names?: string[];
  min_gpu_ram_mb?: number;
  /** Exact GPU count: extra GPUs would be paid for and left idle by an engine sized for this count. */
  num_gpus?: number;
  /** Price cap, $/h (Vast `dph_total`). */
  max_dph?: number;
}

/** Context of {@link filterAndRankOffers}. */
export interface OfferContext {
  strictness: Strictness;
  /** provider_host_id values never to rent (see {@link excludedHosts}). */
  excluded: ReadonlySet<string>;
  /** Reputation by provider_host_id. */
  reputation: ReadonlyMap<string, Reputation>;
  requirements: OfferRequirements;
  now: number;
}

/** Offers to try, best first, and the rejected ones with the first filter that rejected them. */
export interface OfferSelection {
  ranked: Offer[];
  rejected: Array<{ offer_id: string; reason: string }>;
}

function normalizeGpuName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, ' ').trim();
}

/** Why an offer is rejected, or undefined when it passes every filter. */
export function rejectOffer(offer: Offer, ctx: Pick<OfferContext, 'strictness' | 'excluded' | 'requirements'>): string | undefined {
  const req = ctx.requirements;
  const policy = STRICTNESS[ctx.strictness];
  if (ctx.excluded.has(offer.provider_host_id)) return `host ${offer.provider_host_id} is excluded (blacklisted or already in use)`;
  if (!offer.verified) return 'not verified';
  if (!offer.rentable) return 'not rentable';
  if (req.num_gpus !== undefined && offer.num_gpus !== req.num_gpus) return `num_gpus ${offer.num_gpus} != ${req.num_gpus}`;
  if (req.min_gpu_ram_mb !== undefined && !(offer.gpu_ram_mb >= req.min_gpu_ram_mb)) return `gpu_ram ${offer.gpu_ram_mb} MB < ${req.min_gpu_ram_mb} MB`;
  if (req.gpu_names !== undefined && req.gpu_names.length > 0) {
    const name = normalizeGpuName(offer.gpu_name);
    if (!req.gpu_names.some((n) => normalizeGpuName(n) === name)) return `gpu ${offer.gpu_name} not in [${req.gpu_names.join(', ')}]`;
  }
  if (req.max_dph !== undefined && !(offer.dph_total <= req.max_dph)) return `price ${offer.dph_total} $/h > ${req.max_dph} $/h`;
  if (!(offer.reliability >= policy.reliability_gte)) return `reliability ${offer.reliability} < ${policy.reliability_gte} (${ctx.strictness})`;
  if (!(offer.direct_port_count >= policy.direct_port_count_gte)) {
    return `direct_port_count ${offer.direct_port_count} < ${policy.direct_port_count_gte} (${ctx.strictness})`;
  }
  return undefined;
}

interface RankKey {
  offer: Offer;
  knownGood: boolean;
  score: number;
}

/** A fixed-order serialisation: the last tie-breaker, so even duplicate offer ids rank the same way. */
function canonical(o: Offer): string {
  return JSON.stringify([
    o.offer_id, o.provider_host_id, o.machine_id, o.gpu_name, o.num_gpus, o.gpu_ram_mb, o.reliability, o.dph_total,
    o.direct_port_count, o.cuda_max_good ?? null, o.driver_version ?? null, o.verified, o.rentable, o.geolocation ?? null, o.inet_down ?? null,
  ]);
}

function cmpString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRank(a: RankKey, b: RankKey): number {
  if (a.knownGood !== b.knownGood) return a.knownGood ? -1 : 1;
  if (a.score !== b.score) return b.score - a.score;
  if (a.offer.dph_total !== b.offer.dph_total) return a.offer.dph_total - b.offer.dph_total;
  return cmpString(a.offer.offer_id, b.offer.offer_id) || cmpString(canonical(a.offer), canonical(b.offer));
}

/**
 * Filters the offers (see {@link rejectOffer}) and ranks the rest: known-good hosts first when the
 * strictness prefers them (reputation with successes and a decayed score ≥ {@link KNOWN_GOOD_MIN_SCORE}),
 * then reputation score descending, then price ascending, then offer_id. When the strictness does
 * not prefer known-good hosts (`aggressive`), positive scores count as 0 — otherwise sorting by score
 * would put the known-good hosts first anyway — while negative scores still rank last. A total
 * order: the result does not depend on the input order.
 */
export function filterAndRankOffers(offers: readonly Offer[], ctx: OfferContext): OfferSelection {
  const policy = STRICTNESS[ctx.strictness];
  const rejected: OfferSelection['rejected'] = [];
  const keys: RankKey[] = [];
  for (const offer of offers) {
    const reason = rejectOffer(offer, ctx);
    if (reason !== undefined) {
      rejected.push({ offer_id: offer.offer_id, reason });
      continue;
    }
    const rep = ctx.reputation.get(offer.provider_host_id);
    const score = reputationScore(rep, ctx.now);
    const knownGood = policy.prefer_known_good && rep !== undefined && rep.successes > 0 && score >= KNOWN_GOOD_MIN_SCORE;
    // Without the preference a good record earns no head start (new hosts get tried, cheapest
    // first), but a bad one still sends the host to the back.
    keys.push({ offer, knownGood, score: policy.prefer_known_good ? score : Math.min(score, 0) });
  }
  keys.sort(compareRank);
  rejected.sort((a, b) => cmpString(a.offer_id, b.offer_id) || cmpString(a.reason, b.reason));
  return { ranked: keys.map((k) => k.offer), rejected };
}

/**
 * The hosts a workload must not rent: every global and operator entry, plus the workload-scoped
 * entries for this workload (`workloadKey(engine, model)`). A workload entry without a workload is
 * ignored: it cannot say which workload it protects, and treating it as global would silently
 * widen a narrow verdict.
 */
export function excludedHosts(entries: readonly BlacklistEntry[], workload: string): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    if (e.scope === 'global' || e.scope === 'operator' || (e.scope === 'workload' && e.workload !== undefined && e.workload === workload)) {
      out.add(e.provider_host_id);
    }
  }
  return out;
}
