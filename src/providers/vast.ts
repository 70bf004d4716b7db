/**
 * VastProvider: rents GPU hosts on Vast.ai through its REST API (reference/vast-api.md), or on the
 * simulated marketplace that speaks the same endpoints. Transport and retries live in vast-http.ts,
 * wire ↔ Drover shapes in vast-normalise.ts; this file is the Provider contract on top of them.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import { VastCreateResponseSchema, VastOffersResponseSchema, type InstanceInfo, type LaunchSpec, type Offer } from '../protocols/index.js';
import { VastInstancesPageWireSchema, VastShowInstanceResponseSchema } from '../protocols/index.js';
import { ProviderError, type OfferQuery, type Provider } from './types.js';
import { errorCodeOf, failureOf, messageOf, VastHttp, type VastHttpOptions, type VastResponse } from './vast-http.js';
import { buildCreateBody, buildOfferQuery, decodeInstance, decodeOffers, InstanceDecodeError, showInstanceRows } from './vast-normalise.js';

/** Page size of `GET /api/v1/instances/` (the CLI's). */
const PAGE_SIZE = 25;
/** A guard against a server that keeps handing out tokens. */
const MAX_PAGES = 10_000;

/**
 * Options of VastProvider: those of its HTTP transport (`apiUrl` — `https://console.vast.ai`, a
 * trailing `/api/v0` accepted, or the simulator's URL — key, logger, dispatcher, retry, sleep,
 * per-request timeout).
 */
export type VastProviderOptions = VastHttpOptions;

/** A Provider that rents Vast.ai instances. */
export class VastProvider implements Provider {
  readonly name = 'vast' as const;
  private readonly http: VastHttp;
  private readonly log: Logger;

  constructor(opts: VastProviderOptions) {
    this.log = opts.logger;
    this.http = new VastHttp(opts);
  }

  /** `POST /api/v0/bundles/`; rows that fail the wire schema are skipped (one log line per search). */
  async searchOffers(query: OfferQuery): Promise<Offer[]> {
    const res = await this.http.call('POST', '/bundles/', { body: buildOfferQuery(query) });
    const body = expect(res, VastOffersResponseSchema);
    const decoded = decodeOffers(body.offers);
    if (decoded.skipped > 0) {
      this.log.warn({ skipped: decoded.skipped, kept: decoded.offers.length, issue: decoded.firstIssue }, 'vast offers skipped: rows did not match the wire schema');
    }
    return decoded.offers;
  }

  /** `PUT /api/v0/asks/{offer_id}/`; `no_such_ask` → 'offer_taken'. */
  async create(offer: Offer, launch: LaunchSpec, label: string, model: string): Promise<{ instance_id: string }> {
    // Renting is not idempotent: a retried PUT after a 5xx could rent twice. Only 429 is retried.
    const res = await this.http.call('PUT', `/asks/${encodeURIComponent(offer.offer_id)}/`, {
      body: buildCreateBody(launch, label, model),
      retryOnlyRateLimit: true,
    });
    const body = expect(res, VastCreateResponseSchema);
    if (body.new_contract === undefined) throw badResponse(res, 'no new_contract in a successful create');
    const instanceId = String(body.new_contract);
    this.log.info({ offer_id: offer.offer_id, provider_host_id: offer.provider_host_id, instance_id: instanceId, label }, 'vast instance created');
    return { instance_id: instanceId };
  }

  /** `GET /api/v0/instances/{id}/?owner=me`; `{"instances": null}` (or Vast's 404) → undefined. */
  async describe(instanceId: string): Promise<InstanceInfo | undefined> {
    const res = await this.http.call('GET', `/instances/${encodeURIComponent(instanceId)}/`, { query: { owner: 'me' } });
    if (isGone(res)) return undefined;
    const body = expect(res, VastShowInstanceResponseSchema);
    const [row] = showInstanceRows(body.instances, instanceId);
    return row === undefined ? undefined : decodeRow(res, row);
  }

  /** `GET /api/v1/instances/` page by page (following `next_token`), filtered by label prefix here. */
  async listByLabel(labelPrefix: string): Promise<InstanceInfo[]> {
    const out: InstanceInfo[] = [];
    let skipped = 0;
    let token: string | undefined;
    const seen = new Set<string>();
    for (let page = 0; page < MAX_PAGES; page++) {
      const query: Record<string, unknown> = { select_filters: {}, order_by: [{ col: 'id', dir: 'asc' }], limit: PAGE_SIZE };
      if (token !== undefined) query.after_token = token;
      const res = await this.http.call('GET', '/api/v1/instances/', { query });
      const body = expect(res, VastInstancesPageWireSchema);
      for (const row of body.instances) {
        try {
          const info = decodeInstance(row);
          if (info.label?.startsWith(labelPrefix) === true) out.push(info);
        } catch (err) {
          if (!(err instanceof InstanceDecodeError)) throw err;
          skipped++;
        }
      }
      token = body.next_token ?? undefined;
      if (!token) break;
      if (seen.has(token)) throw badResponse(res, `next_token ${token} repeated`);
      seen.add(token);
    }
    if (skipped > 0) this.log.warn({ skipped }, 'vast instances skipped: rows did not match the wire schema');
    return out;
  }

  /** `DELETE /api/v0/instances/{id}/`; an instance already gone (404, `no_such_instance`) is a success. */
  async destroy(instanceId: string): Promise<void> {
    const res = await this.http.call('DELETE', `/instances/${encodeURIComponent(instanceId)}/`, { body: {} });
    const failure = failureOf(res);
    if (failure === undefined) {
      this.log.info({ instance_id: instanceId }, 'vast instance destroyed');
      return;
    }
    if (isGone(res)) {
      this.log.info({ instance_id: instanceId, status: res.status }, 'vast instance already gone');
      return;
    }
    throw failure;
  }
}

/**
 * The answer says the instance does not exist: `no_such_instance`, a "no longer exists / already
 * destroyed" message, or a 404 with a JSON body. A 404 that is not JSON (a proxy page, a wrong
 * apiUrl) is not taken as "gone": believing it would leak a paid instance.
 */
function isGone(res: VastResponse): boolean {
  if (res.status >= 200 && res.status < 300 && failureOf(res) === undefined) return false;
  if (errorCodeOf(res) === 'no_such_instance') return true;
  if (/no longer exists|already (destroyed|deleted)|instance .*not found/i.test(messageOf(res))) return true;
  return failureOf(res)?.kind === 'not_found' && res.status === 404 && res.json !== undefined;
}

/** Success body checked against `schema`; the typed failure otherwise. */
function expect<S extends z.ZodType>(res: VastResponse, schema: S): z.infer<S> {
  const failure = failureOf(res);
  if (failure !== undefined) throw failure;
  const parsed = schema.safeParse(res.json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw badResponse(res, res.json === undefined ? 'body is not JSON' : `${issue?.path.map(String).join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
}

function decodeRow(res: VastResponse, row: unknown): InstanceInfo {
  try {
    return decodeInstance(row);
  } catch (err) {
    if (err instanceof InstanceDecodeError) throw badResponse(res, err.message);
    throw err;
  }
}

function badResponse(res: VastResponse, why: string): ProviderError {
  return new ProviderError('bad_response', `Vast ${res.method} ${res.path}: unexpected body (${why})`, { status: res.status });
}
