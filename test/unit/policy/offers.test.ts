import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { BlacklistEntry, Offer, Reputation, Strictness } from '../../../src/protocols/index.js';
import { KNOWN_GOOD_MIN_SCORE, STRICTNESS, excludedHosts, filterAndRankOffers, type OfferContext } from '../../../src/policy/offers.js';
import { recordOutcome, reputationScore } from '../../../src/policy/reputation.js';

function offer(offer_id: string, over: Partial<Offer> = {}): Offer {
  return {
    offer_id,
    provider_host_id: `host-${offer_id}`,
    machine_id: `m-${offer_id}`,
    gpu_name: 'RTX 4090',
    num_gpus: 1,
    gpu_ram_mb: 24_564,
    reliability: 0.999,
    dph_total: 0.4,
    direct_port_count: 32,
    verified: true,
    rentable: true,
    ...over,
  };
}

function ctx(over: Partial<OfferContext> = {}): OfferContext {
  return { strictness: 'strict', excluded: new Set(), reputation: new Map(), requirements: {}, now: 0, ...over };
}

const ids = (offers: Offer[]): string[] => offers.map((o) => o.offer_id);

describe('STRICTNESS', () => {
  it('offers - the seed table, exactly', () => {
    expect(STRICTNESS).toEqual({
      strict: { reliability_gte: 0.995, direct_port_count_gte: 16, prefer_known_good: true },
      balanced: { reliability_gte: 0.98, direct_port_count_gte: 8, prefer_known_good: true },
      aggressive: { reliability_gte: 0.95, direct_port_count_gte: 4, prefer_known_good: false },
    });
  });
});

describe('filterAndRankOffers', () => {
  it('offers - each filter rejects with its reason', () => {
    const offers = [
      offer('ok'),
      offer('excl', { provider_host_id: 'bad' }),
      offer('unverified', { verified: false }),
      offer('taken', { rentable: false }),
      offer('two', { num_gpus: 2 }),
      offer('small', { gpu_ram_mb: 8_000 }),
      offer('a100', { gpu_name: 'A100 SXM4' }),
      offer('pricey', { dph_total: 3 }),
      offer('flaky', { reliability: 0.99 }),
      offer('ports', { direct_port_count: 8 }),
    ];
    const r = filterAndRankOffers(offers, ctx({ excluded: new Set(['bad']), requirements: { num_gpus: 1, min_gpu_ram_mb: 16_000, gpu_names: ['rtx_4090', 'H100 SXM'], max_dph: 1 } }));
    expect(ids(r.ranked)).toEqual(['ok']);
    const reasons = Object.fromEntries(r.rejected.map((x) => [x.offer_id, x.reason]));
    expect(reasons.excl).toMatch(/excluded/);
    expect(reasons.unverified).toBe('not verified');
    expect(reasons.taken).toBe('not rentable');
    expect(reasons.two).toMatch(/num_gpus/);
    expect(reasons.small).toMatch(/gpu_ram/);
    expect(reasons.a100).toMatch(/gpu A100/);
    expect(reasons.pricey).toMatch(/price/);
    expect(reasons.flaky).toMatch(/reliability 0.99 < 0.995/);
    expect(reasons.ports).toMatch(/direct_port_count 8 < 16/);
  });

  it('offers - the thresholds loosen with strictness', () => {
    const offers = [offer('a', { reliability: 0.999, direct_port_count: 16 }), offer('b', { reliability: 0.985, direct_port_count: 8 }), offer('c', { reliability: 0.96, direct_port_count: 4 }), offer('d', { reliability: 0.9, direct_port_count: 100 })];
    const byPrice = (s: Strictness): string[] => ids(filterAndRankOffers(offers, ctx({ strictness: s })).ranked).sort();
    expect(byPrice('strict')).toEqual(['a']);
    expect(byPrice('balanced')).toEqual(['a', 'b']);
    expect(byPrice('aggressive')).toEqual(['a', 'b', 'c']);
  });

  it('offers - known-good hosts first (strict, balanced), then reputation, then price, then id', () => {
    const good = recordOutcome(undefined, 'success', 'host-known', 0);
    const burnt = recordOutcome(undefined, 'infra_failure', 'host-burnt', 0);
    const reputation = new Map<string, Reputation>([['host-known', good], ['host-burnt', burnt]]);
    const offers = [offer('cheap', { dph_total: 0.2 }), offer('known', { dph_total: 0.9 }), offer('burnt', { dph_total: 0.1 }), offer('b-same', { dph_total: 0.3 }), offer('a-same', { dph_total: 0.3 })];
    expect(ids(filterAndRankOffers(offers, ctx({ reputation })).ranked)).toEqual(['known', 'cheap', 'a-same', 'b-same', 'burnt']);
    // Aggressive does not prefer known-good (cheapest first), but a burnt host still ranks last.
    expect(ids(filterAndRankOffers(offers, ctx({ reputation, strictness: 'aggressive' })).ranked)).toEqual(['cheap', 'a-same', 'b-same', 'known', 'burnt']);
    // A success long ago has decayed: no longer known-good, just slightly positive.
    const later = 5 * 24 * 3_600_000;
    expect(reputationScore(good, later)).toBeLessThan(KNOWN_GOOD_MIN_SCORE);
    expect(ids(filterAndRankOffers(offers, ctx({ reputation, now: later })).ranked)[0]).toBe('known');
  });

  it('offers - a known-good host outranks a cheaper unknown one unless aggressive', () => {
    const rep = new Map<string, Reputation>([['host-k', recordOutcome(undefined, 'success', 'host-k', 0)]]);
    const offers = [offer('k', { dph_total: 1 }), offer('u', { dph_total: 0.1 })];
    expect(ids(filterAndRankOffers(offers, ctx({ reputation: rep, strictness: 'balanced' })).ranked)).toEqual(['k', 'u']);
    expect(ids(filterAndRankOffers(offers, ctx({ reputation: rep, strictness: 'aggressive' })).ranked)).toEqual(['u', 'k']);
  });
});

describe('excludedHosts', () => {
  it('offers - global ∪ operator ∪ this workload', () => {
    const e = (provider_host_id: string, scope: BlacklistEntry['scope'], workload?: string): BlacklistEntry => ({ provider_host_id, scope, reason: 'r', by: 'test', at: 0, ...(workload === undefined ? {} : { workload }) });
    const entries = [e('g', 'global'), e('o', 'operator'), e('w1', 'workload', 'vllm:m1'), e('w2', 'workload', 'vllm:m2'), e('w3', 'workload')];
    expect([...excludedHosts(entries, 'vllm:m1')].sort()).toEqual(['g', 'o', 'w1']);
    expect([...excludedHosts(entries, 'vllm:m2')].sort()).toEqual(['g', 'o', 'w2']);
  });
});

describe('filterAndRankOffers - properties', () => {
  const hostIds = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];
  const arbOffer = fc.record({
    offer_id: fc.string({ minLength: 1, maxLength: 4 }),
    provider_host_id: fc.constantFrom(...hostIds),
    machine_id: fc.constantFrom('m1', 'm2'),
    gpu_name: fc.constantFrom('RTX 4090', 'H100 SXM', 'A100'),
    num_gpus: fc.integer({ min: 1, max: 4 }),
    gpu_ram_mb: fc.integer({ min: 0, max: 100_000 }),
    reliability: fc.double({ min: 0.9, max: 1, noNaN: true }),
    dph_total: fc.double({ min: 0, max: 5, noNaN: true }),
    direct_port_count: fc.integer({ min: 0, max: 64 }),
    verified: fc.boolean(),
    rentable: fc.boolean(),
  });
  const arbRep = fc.dictionary(
    fc.constantFrom(...hostIds),
    fc.array(fc.tuple(fc.constantFrom('success' as const, 'infra_failure' as const), fc.integer({ min: 0, max: 10 * 86_400_000 })), { minLength: 1, maxLength: 5 }),
  );
  const arbCtx = fc.record({
    strictness: fc.constantFrom<Strictness>('strict', 'balanced', 'aggressive'),
    excluded: fc.subarray(hostIds),
    rep: arbRep,
    now: fc.integer({ min: 0, max: 20 * 86_400_000 }),
    minRam: fc.option(fc.integer({ min: 0, max: 80_000 }), { nil: undefined }),
    maxDph: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: undefined }),
  });
  function build(c: { strictness: Strictness; excluded: string[]; rep: Record<string, Array<['success' | 'infra_failure', number]>>; now: number; minRam: number | undefined; maxDph: number | undefined }): OfferContext {
    const reputation = new Map<string, Reputation>();
    for (const [h, events] of Object.entries(c.rep)) {
      let r: Reputation | undefined;
      for (const [o, at] of [...events].sort((a, b) => a[1] - b[1])) r = recordOutcome(r, o, h, at);
      reputation.set(h, r!);
    }
    return ctx({
      strictness: c.strictness,
      excluded: new Set(c.excluded),
      reputation,
      now: c.now,
      requirements: { ...(c.minRam === undefined ? {} : { min_gpu_ram_mb: c.minRam }), ...(c.maxDph === undefined ? {} : { max_dph: c.maxDph }) },
    });
  }

  it('offers - ranked never holds an excluded host or one below the thresholds; every offer is ranked or rejected', () => {
    fc.assert(
      fc.property(fc.array(arbOffer, { maxLength: 30 }), arbCtx, (offers, c) => {
        const context = build(c);
        const { ranked, rejected } = filterAndRankOffers(offers, context);
        const t = STRICTNESS[c.strictness];
        for (const o of ranked) {
          expect(context.excluded.has(o.provider_host_id)).toBe(false);
          expect(o.reliability).toBeGreaterThanOrEqual(t.reliability_gte);
          expect(o.direct_port_count).toBeGreaterThanOrEqual(t.direct_port_count_gte);
          expect(o.verified && o.rentable).toBe(true);
          if (c.minRam !== undefined) expect(o.gpu_ram_mb).toBeGreaterThanOrEqual(c.minRam);
          if (c.maxDph !== undefined) expect(o.dph_total).toBeLessThanOrEqual(c.maxDph);
        }
        expect(ranked.length + rejected.length).toBe(offers.length);
      }),
    );
  });

  it('offers - the ranking is a permutation-invariant total order', () => {
    fc.assert(
      fc.property(
        fc.array(arbOffer, { maxLength: 30 }).chain((offers) => fc.tuple(fc.constant(offers), fc.shuffledSubarray(offers, { minLength: offers.length, maxLength: offers.length }))),
        arbCtx,
        ([offers, shuffled], c) => {
          const context = build(c);
          const a = filterAndRankOffers(offers, context);
          const b = filterAndRankOffers(shuffled, context);
          expect(b.ranked).toEqual(a.ranked);
          expect(b.rejected).toEqual(a.rejected);
        },
      ),
    );
  });

  it('offers - known-good (when preferred) then score desc (positive scores ignored when not preferred) then price asc hold pairwise', () => {
    fc.assert(
      fc.property(fc.array(arbOffer, { maxLength: 20 }), arbCtx, (offers, c) => {
        const context = build(c);
        const { ranked } = filterAndRankOffers(offers, context);
        const prefer = STRICTNESS[c.strictness].prefer_known_good;
        const key = (o: Offer): [number, number, number] => {
          const rep = context.reputation.get(o.provider_host_id);
          const raw = reputationScore(rep, c.now);
          const score = prefer ? raw : Math.min(raw, 0);
          const known = prefer && rep !== undefined && rep.successes > 0 && score >= KNOWN_GOOD_MIN_SCORE ? 0 : 1;
          return [known, -score, o.dph_total];
        };
        for (let i = 1; i < ranked.length; i++) {
          const [k1, s1, p1] = key(ranked[i - 1]!);
          const [k2, s2, p2] = key(ranked[i]!);
          expect(k1 < k2 || (k1 === k2 && (s1 < s2 || (s1 === s2 && p1 <= p2)))).toBe(true);
        }
      }),
    );
  });
});
